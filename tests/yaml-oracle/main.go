// yaml-oracle reads manifest streams the way Kubernetes and Argo CD do (kube.SplitYAML in Argo CD's
// gitops-engine: k8s.io/apimachinery's YAMLOrJSONDecoder) and prints what each stream becomes, so that
// tests/it/yaml_oracle.rs can compare sluice's reader with the real go-yaml v2 on many documents.
//
// Built offline against Debian's golang-gopkg-yaml.v2-dev (go-yaml v2.4.0) and
// golang-github-ghodss-yaml-dev (the YAML-to-JSON conversion sigs.k8s.io/yaml was forked from), in GOPATH
// mode with GOPATH=/usr/share/gocode.
//
// Input on stdin: records "<byte length>\n<bytes>". Output: one JSON line per record, in order:
//   {"docs": [<object>, ...]}    the non-empty documents of the stream
//   {"error": "<message>"}       the stream is refused
// with "multi": true when a piece between `---` lines holds more than one YAML document (go-yaml v2's
// Unmarshal, which Kubernetes calls per piece, keeps only the first).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/ghodss/yaml"
	yamlv2 "gopkg.in/yaml.v2"
)

type result struct {
	Docs  []json.RawMessage `json:"docs,omitempty"`
	Error string            `json:"error,omitempty"`
	Multi bool              `json:"multi,omitempty"`
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for {
		header, err := in.ReadString('\n')
		if err == io.EOF {
			return
		}
		if err != nil {
			fail(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(header))
		if err != nil {
			fail(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(in, buf); err != nil {
			fail(err)
		}
		if err := enc.Encode(read(buf)); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "yaml-oracle:", err)
	os.Exit(2)
}

// read is SplitYAMLToString: JSON when the stream starts with `{`, else YAML pieces between `---` lines,
// each converted with YAMLToJSON; empty and null documents are dropped.
func read(data []byte) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{Error: fmt.Sprint("panic: ", p)}
		}
	}()
	if bytes.HasPrefix(bytes.TrimLeftFunc(data, unicode.IsSpace), []byte("{")) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		for {
			var v interface{}
			if err := dec.Decode(&v); err == io.EOF {
				return r
			} else if err != nil {
				return result{Error: err.Error()}
			}
			if v == nil {
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return result{Error: err.Error()}
			}
			r.Docs = append(r.Docs, raw)
		}
	}
	pieces, err := split(data)
	if err != nil {
		return result{Error: err.Error()}
	}
	for _, piece := range pieces {
		if documents(piece) > 1 {
			r.Multi = true
		}
		raw, err := yaml.YAMLToJSON(piece)
		if err != nil {
			return result{Error: err.Error(), Multi: r.Multi}
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
			continue
		}
		r.Docs = append(r.Docs, raw)
	}
	return r
}

// split is apimachinery's YAMLReader (pkg/util/yaml/decoder.go): lines that start with `---` end a
// piece; anything but spaces or a comment after the `---` is an error (since Kubernetes 1.22).
func split(data []byte) ([][]byte, error) {
	var pieces [][]byte
	var buf bytes.Buffer
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, line := range lines {
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte("---")) {
			trimmed := strings.TrimSpace(string(line[3:]))
			if len(trimmed) > 0 && trimmed[0] != '#' {
				return nil, fmt.Errorf("invalid Yaml document separator: %s", trimmed)
			}
			if buf.Len() != 0 {
				pieces = append(pieces, append([]byte(nil), buf.Bytes()...))
				buf.Reset()
			}
			continue
		}
		buf.Write(line)
		// LineReader gives every line a final "\n", the last one included.
		if !bytes.HasSuffix(line, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	if buf.Len() != 0 {
		pieces = append(pieces, buf.Bytes())
	}
	return pieces, nil
}

// documents counts the YAML documents of a piece (0 when it does not parse).
func documents(piece []byte) int {
	dec := yamlv2.NewDecoder(bytes.NewReader(piece))
	n := 0
	for {
		var v interface{}
		if err := dec.Decode(&v); err != nil {
			return n
		}
		n++
	}
}
