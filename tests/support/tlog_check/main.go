// tlog_check VKEY_FILE PROOF_FILE: checks a proof of `mcp-audit prove` (JSON,
// or a c2sp.org/tlog-proof@v1 file as evidence bundles hold) with Go's golang.org/x/mod/sumdb/note and sumdb/tlog: implementations of
// signed notes and RFC 6962 that mcp-audit does not share. Prints "ok" and
// exits 0, or says what failed and exits 1.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	Index      int64    `json:"index"`
	TreeSize   int64    `json:"tree_size"`
	Leaf       string   `json:"leaf"`
	Proof      []string `json:"proof"`
	Checkpoint string   `json:"checkpoint"`
	OldSize    *int64   `json:"old_size"`
	OldRoot    string   `json:"old_root"`
}

func fail(format string, args ...interface{}) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}

func hashOf(text string) tlog.Hash {
	bytes, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(bytes) != tlog.HashSize {
		fail("not a hash: %q", text)
	}
	var h tlog.Hash
	copy(h[:], bytes)
	return h
}

// A c2sp.org/tlog-proof@v1 file: "extra" (the leaf), "index", the path's
// hashes, a blank line, the checkpoint. Its tree size is the checkpoint's.
func parseTlogProof(text string) proof {
	head, checkpoint, found := strings.Cut(strings.TrimPrefix(text, "c2sp.org/tlog-proof@v1\n"), "\n\n")
	if !found {
		fail("tlog-proof: no blank line before the checkpoint")
	}
	p := proof{Checkpoint: checkpoint, TreeSize: -1}
	for _, line := range strings.Split(head, "\n") {
		if strings.HasPrefix(line, "extra ") {
			p.Leaf = strings.TrimPrefix(line, "extra ")
		} else if strings.HasPrefix(line, "index ") {
			var err error
			if p.Index, err = strconv.ParseInt(strings.TrimPrefix(line, "index "), 10, 64); err != nil {
				fail("tlog-proof: %q", line)
			}
		} else {
			p.Proof = append(p.Proof, line)
		}
	}
	return p
}

func main() {
	vkey, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	text, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	var p proof
	if strings.HasPrefix(string(text), "c2sp.org/tlog-proof@v1\n") {
		p = parseTlogProof(string(text))
	} else if err := json.Unmarshal(text, &p); err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		fail("vkey: %v", err)
	}
	n, err := note.Open([]byte(p.Checkpoint), note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint: %q is not origin, size and root", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if p.TreeSize == -1 {
		p.TreeSize = size
	}
	if err != nil || size != p.TreeSize {
		fail("checkpoint: size %q, proof says %d", lines[1], p.TreeSize)
	}
	root := hashOf(lines[2])
	var path []tlog.Hash
	for _, h := range p.Proof {
		path = append(path, hashOf(h))
	}
	if p.OldSize != nil {
		if err := tlog.CheckTree(tlog.TreeProof(path), size, root, *p.OldSize, hashOf(p.OldRoot)); err != nil {
			fail("consistency: %v", err)
		}
	} else {
		leaf, err := base64.StdEncoding.DecodeString(p.Leaf)
		if err != nil {
			fail("leaf: %v", err)
		}
		if err := tlog.CheckRecord(tlog.RecordProof(path), size, root, p.Index, tlog.RecordHash(leaf)); err != nil {
			fail("inclusion: %v", err)
		}
	}
	fmt.Println("ok")
}
