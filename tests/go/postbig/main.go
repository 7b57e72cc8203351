// Posts large bodies to the sink with Go's net/http client, as Argo CD Notifications does (a bytes body:
// Content-Length set, no `Expect: 100-continue`, the default keep-alive Transport), and reports what the
// client got for each try, for tests/it/sink.rs and scripts/go-413.sh. Standard library only.
//
// usage: postbig URL TOKEN SIZES TRIES
//   SIZES: comma-separated body sizes in bytes; each size is posted TRIES times, sizes interleaved.
//   TOKEN: sent as `Authorization: Bearer TOKEN` unless empty.
// stdout: one JSON object per try: {"size": N, "status": 413} or {"size": N, "error": "..."}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

type result struct {
	Size   int    `json:"size"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: postbig URL TOKEN SIZES TRIES")
		os.Exit(2)
	}
	url, token := os.Args[1], os.Args[2]
	var sizes []int
	for _, s := range strings.Split(os.Args[3], ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad size:", s)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	tries, err := strconv.Atoi(os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad tries:", os.Args[4])
		os.Exit(2)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	out := json.NewEncoder(os.Stdout)
	for t := 0; t < tries; t++ {
		for _, size := range sizes {
			body := bytes.Repeat([]byte("x"), size)
			copy(body, `{"event":"deployed","pad":"`)
			r := result{Size: size}
			req, err := http.NewRequest("POST", url, bytes.NewReader(body))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			req.Header.Set("Content-Type", "application/json")
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := client.Do(req)
			if err != nil {
				r.Error = err.Error()
			} else {
				r.Status = resp.StatusCode
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			out.Encode(r)
		}
	}
}
