// Command tlog checks sluice's Merkle tree with Go's own transparency-log package
// (golang.org/x/mod/sumdb/tlog, as the Go checksum database uses it) and makes Go's proofs for sluice
// to check. LOG is an audit log file (sealed segments concatenated, then audit.jsonl): record i's leaf
// is its line without the newline.
//
//	tlog root LOG N...                 prints "N <base64 root>" for each tree size
//	tlog check-inclusion LOG PROOF     checks a C2SP tlog-proof made by sluice; prints "ok"
//	tlog check-consistency LOG BODY    checks an add-checkpoint body (old size, proof, checkpoint)
//	tlog prove-inclusion LOG N I       prints Go's tlog-proof of record index I in the tree of N
//	tlog add-checkpoint LOG OLD NEW KEY  prints an add-checkpoint body with Go's consistency proof
//	                                   and the checkpoint of NEW signed with the note key in file KEY
//	tlog tiles LOG N DIR               compares every full tile of the tree of N (and each partial
//	                                   tile present) with DIR/tile/<L>/<N>[.p/<W>]; prints the count
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func readLines(path string) [][]byte {
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	var out [][]byte
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 16<<20)
	for s.Scan() {
		out = append(out, append([]byte(nil), s.Bytes()...))
	}
	if err := s.Err(); err != nil {
		fail("%v", err)
	}
	return out
}

// tree holds every stored hash of the log, as Go's sumdb server keeps them.
type tree struct {
	hashes []tlog.Hash
}

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

func build(lines [][]byte) *tree {
	t := &tree{}
	for i, l := range lines {
		h, err := tlog.StoredHashes(int64(i), l, t)
		if err != nil {
			fail("stored hashes of record %d: %v", i, err)
		}
		t.hashes = append(t.hashes, h...)
	}
	return t
}

func (t *tree) root(n int64) tlog.Hash {
	h, err := tlog.TreeHash(n, t)
	if err != nil {
		fail("tree hash of %d: %v", n, err)
	}
	return h
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail("%q: %v", s, err)
	}
	return n
}

func b64(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func unb64(s string) tlog.Hash {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != tlog.HashSize {
		fail("%q is not a base64 hash", s)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return h
}

// checkpoint reads the size and root of a checkpoint (a signed note, or a bare text).
func checkpoint(text string) (int64, tlog.Hash) {
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		fail("not a checkpoint: %q", text)
	}
	return atoi(lines[1]), unb64(lines[2])
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: see the comment at the top of main.go")
	}
	lines := readLines(os.Args[2])
	t := build(lines)
	args := os.Args[3:]
	switch os.Args[1] {
	case "root":
		for _, a := range args {
			n := atoi(a)
			fmt.Printf("%d %s\n", n, b64(t.root(n)))
		}
	case "check-inclusion":
		text, err := os.ReadFile(args[0])
		if err != nil {
			fail("%v", err)
		}
		head, cp, ok := strings.Cut(string(text), "\n\n")
		if !ok {
			fail("no empty line in the proof")
		}
		hl := strings.Split(head, "\n")
		if hl[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(hl[1], "index ") {
			fail("not a tlog-proof")
		}
		index := atoi(strings.TrimPrefix(hl[1], "index "))
		var proof tlog.RecordProof
		for _, l := range hl[2:] {
			proof = append(proof, unb64(l))
		}
		size, root := checkpoint(cp)
		if root != t.root(size) {
			fail("the proof's root %s is not Go's root %s of %d records", b64(root), b64(t.root(size)), size)
		}
		if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(lines[index])); err != nil {
			fail("record %d in %d: %v", index, size, err)
		}
		fmt.Println("ok")
	case "check-consistency":
		text, err := os.ReadFile(args[0])
		if err != nil {
			fail("%v", err)
		}
		head, cp, ok := strings.Cut(string(text), "\n\n")
		if !ok {
			fail("no empty line in the body")
		}
		hl := strings.Split(head, "\n")
		old := atoi(strings.TrimPrefix(hl[0], "old "))
		var proof tlog.TreeProof
		for _, l := range hl[1:] {
			proof = append(proof, unb64(l))
		}
		size, root := checkpoint(cp)
		if root != t.root(size) {
			fail("the checkpoint's root is not Go's root of %d records", size)
		}
		if err := tlog.CheckTree(proof, size, root, old, t.root(old)); err != nil {
			fail("%d to %d: %v", old, size, err)
		}
		fmt.Println("ok")
	case "prove-inclusion":
		n, i := atoi(args[0]), atoi(args[1])
		proof, err := tlog.ProveRecord(n, i, t)
		if err != nil {
			fail("%v", err)
		}
		fmt.Printf("c2sp.org/tlog-proof@v1\nindex %d\n", i)
		for _, h := range proof {
			fmt.Println(b64(h))
		}
		fmt.Printf("\ngo-oracle\n%d\n%s\n", n, b64(t.root(n)))
	case "add-checkpoint":
		old, n := atoi(args[0]), atoi(args[1])
		skey, err := os.ReadFile(args[2])
		if err != nil {
			fail("%v", err)
		}
		signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
		if err != nil {
			fail("%v", err)
		}
		signed, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", signer.Name(), n, b64(t.root(n)))}, signer)
		if err != nil {
			fail("%v", err)
		}
		var proof tlog.TreeProof
		if old > 0 {
			proof, err = tlog.ProveTree(n, old, t)
			if err != nil {
				fail("%v", err)
			}
		}
		var body bytes.Buffer
		fmt.Fprintf(&body, "old %d\n", old)
		for _, h := range proof {
			fmt.Fprintln(&body, b64(h))
		}
		body.WriteString("\n")
		body.Write(signed)
		os.Stdout.Write(body.Bytes())
	case "tiles":
		n, dir := atoi(args[0]), args[1]
		count := 0
		for _, tile := range tlog.NewTiles(8, 0, n) {
			data, err := tlog.ReadTileData(tile, t)
			if err != nil {
				fail("%v", err)
			}
			// Go's path has the height: tile/8/L/N; C2SP's does not.
			path := filepath.Join(dir, "tile", strings.TrimPrefix(tile.Path(), "tile/8/"))
			got, err := os.ReadFile(path)
			if os.IsNotExist(err) && tile.W < 1<<tile.H {
				continue // a partial tile sluice keeps only for checkpoint sizes
			}
			if err != nil {
				fail("%v", err)
			}
			if !bytes.Equal(got, data) {
				fail("%s differs from Go's %s", path, tile.Path())
			}
			count++
		}
		fmt.Println(count)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
