// tlog_witness LOG_VKEYS_FILE READY_FILE: a witness of c2sp.org/tlog-witness
// for the tests, written with Go's sumdb/note and sumdb/tlog (not mcp-audit's
// code). It listens on a loopback port, writes "<port> <its cosigner vkey>" to
// READY_FILE, and answers POST /add-checkpoint: it cosigns (cosignature/v1,
// c2sp.org/tlog-cosignature) a checkpoint one of the log's keys (a vkey per
// line of LOG_VKEYS_FILE) signed only when the
// consistency proof shows it extends the last one it cosigned for that origin.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const name = "witness.example/w1"

type seen struct {
	size int64
	root tlog.Hash
}

func hashOf(text string) (tlog.Hash, bool) {
	var h tlog.Hash
	bytes, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(bytes) != tlog.HashSize {
		return h, false
	}
	copy(h[:], bytes)
	return h, true
}

func main() {
	vkey, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	// One log key per line: the keys of the log's epochs it was given.
	var logKeys []note.Verifier
	for _, line := range strings.Split(strings.TrimSpace(string(vkey)), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		logKey, err := note.NewVerifier(strings.TrimSpace(line))
		if err != nil {
			panic(err)
		}
		logKeys = append(logKeys, logKey)
	}
	public, private, _ := ed25519.GenerateKey(rand.Reader)
	id := sha256.Sum256(append([]byte(name+"\n\x04"), public...))
	cosigner := name + "+" + hex.EncodeToString(id[:4]) + "+" + base64.StdEncoding.EncodeToString(append([]byte{4}, public...))

	var mu sync.Mutex
	logs := map[string]seen{}
	http.HandleFunc("/add-checkpoint", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		head, checkpoint, found := bytes.Cut(body, []byte("\n\n"))
		if !found || r.Method != http.MethodPost {
			http.Error(w, "no blank line", http.StatusBadRequest)
			return
		}
		lines := strings.Split(string(head), "\n")
		if !strings.HasPrefix(lines[0], "old ") {
			http.Error(w, "no old line", http.StatusBadRequest)
			return
		}
		old, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "old "), 10, 64)
		if err != nil {
			http.Error(w, "bad old size", http.StatusBadRequest)
			return
		}
		var proof tlog.TreeProof
		for _, line := range lines[1:] {
			h, ok := hashOf(line)
			if !ok {
				http.Error(w, "bad proof line", http.StatusBadRequest)
				return
			}
			proof = append(proof, h)
		}
		n, err := note.Open(checkpoint, note.VerifierList(logKeys...))
		if err != nil {
			http.Error(w, "not signed by the log: "+err.Error(), http.StatusForbidden)
			return
		}
		text := strings.Split(n.Text, "\n")
		size, err := strconv.ParseInt(text[1], 10, 64)
		root, ok := hashOf(text[2])
		if err != nil || !ok || old > size {
			http.Error(w, "bad checkpoint or old size", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		last := logs[text[0]]
		if old != last.size {
			w.Header().Set("Content-Type", "text/x.tlog.size")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "%d\n", last.size)
			return
		}
		consistent := (old == 0 && len(proof) == 0) || (old == size && root == last.root) ||
			(old > 0 && old < size && tlog.CheckTree(proof, size, root, old, last.root) == nil)
		if !consistent {
			http.Error(w, "not consistent with the checkpoint of size "+strconv.FormatInt(old, 10), http.StatusUnprocessableEntity)
			return
		}
		logs[text[0]] = seen{size, root}
		stamp := uint64(time.Now().Unix())
		message := fmt.Sprintf("cosignature/v1\ntime %d\n%s", stamp, n.Text)
		signature := make([]byte, 12, 76)
		copy(signature, id[:4])
		binary.BigEndian.PutUint64(signature[4:], stamp)
		signature = append(signature, ed25519.Sign(private, []byte(message))...)
		fmt.Fprintf(w, "\u2014 %s %s\n", name, base64.StdEncoding.EncodeToString(signature))
	})
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ready := fmt.Sprintf("%d %s\n", listener.Addr().(*net.TCPAddr).Port, cosigner)
	if err := os.WriteFile(os.Args[2]+".tmp", []byte(ready), 0600); err != nil {
		panic(err)
	}
	os.Rename(os.Args[2]+".tmp", os.Args[2])
	http.Serve(listener, nil)
}
