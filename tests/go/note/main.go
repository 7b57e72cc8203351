// Command note checks sluice's checkpoints with Go's own signed-note package
// (golang.org/x/mod/sumdb/note, as the Go checksum database uses it).
//
//	note verify PUBLIC-KEY NOTE-FILE...  prints "<tree size> <hash hex>" per note; exit 1 if one fails
//	note keygen NAME                     prints a private key line, then a public key line
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: note verify KEY FILE... | note keygen NAME")
	}
	switch os.Args[1] {
	case "keygen":
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[2])
		if err != nil {
			fail("keygen: %v", err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	case "verify":
		v, err := note.NewVerifier(strings.TrimSpace(os.Args[2]))
		if err != nil {
			fail("public key: %v", err)
		}
		for _, path := range os.Args[3:] {
			msg, err := os.ReadFile(path)
			if err != nil {
				fail("%v", err)
			}
			n, err := note.Open(msg, note.VerifierList(v))
			if err != nil {
				fail("%s: %v", path, err)
			}
			lines := strings.Split(n.Text, "\n")
			if len(lines) < 4 || lines[0] != v.Name() {
				fail("%s: not a checkpoint of %s", path, v.Name())
			}
			root, err := base64.StdEncoding.DecodeString(lines[2])
			if err != nil || len(root) != 32 {
				fail("%s: line 3 is not a base64 SHA-256 hash", path)
			}
			fmt.Printf("%s %s\n", lines[1], hex.EncodeToString(root))
		}
	default:
		fail("unknown command %q", os.Args[1])
	}
}
