// Command goclient verifies the audit log over HTTP with Go's own transparency-log
// packages (golang.org/x/mod/sumdb/note and sumdb/tlog) and nothing of ours: it
// opens the signed checkpoint, checks every hash tile against it, proves every entry
// in it, and proves an earlier checkpoint's tree is a prefix of the current one.
//
// Usage: goclient <base URL of /log/> <verifier key> [<earlier signed checkpoint file>]
package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fetch(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// openCheckpoint checks the note's signature and parses the C2SP tlog-checkpoint body.
func openCheckpoint(msg []byte, verifiers note.Verifiers, origin string) (tlog.Tree, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return tlog.Tree{}, err
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 || lines[0] != origin {
		return tlog.Tree{}, fmt.Errorf("not a checkpoint of %q", origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return tlog.Tree{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return tlog.Tree{}, fmt.Errorf("bad root hash")
	}
	var hash tlog.Hash
	copy(hash[:], raw)
	return tlog.Tree{N: size, Hash: hash}, nil
}

// tiles reads C2SP tlog-tiles hash tiles: Go's sumdb paths carry the height as an
// extra element ("tile/8/L/N"), the C2SP layout does not ("tile/L/N").
// Tiles already authenticated by tlog (SaveTiles) are kept, as a client's cache would.
type tiles struct {
	base  string
	saved map[tlog.Tile][]byte
}

func (t *tiles) Height() int { return 8 }

func (t *tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		if data, ok := t.saved[tile]; ok {
			out[i] = data
			continue
		}
		path := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		data, err := fetch(t.base + path)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (t *tiles) SaveTiles(ts []tlog.Tile, data [][]byte) {
	for i, tile := range ts {
		t.saved[tile] = data[i]
	}
}

func bundlePath(n int64, width int64) string {
	// The entry bundle of tile n has the path of hash tile n at level 0, under "entries".
	tile := tlog.Tile{H: 8, L: 0, N: n, W: int(width)}
	return strings.Replace(tile.Path(), "tile/8/0/", "tile/entries/", 1)
}

func run() error {
	if len(os.Args) < 3 {
		return fmt.Errorf("usage: goclient BASE_URL VERIFIER_KEY [OLD_CHECKPOINT]")
	}
	base, vkey := os.Args[1], os.Args[2]
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	verifiers := note.VerifierList(verifier)
	origin := verifier.Name()
	msg, err := fetch(base + "checkpoint")
	if err != nil {
		return err
	}
	tree, err := openCheckpoint(msg, verifiers, origin)
	if err != nil {
		return err
	}
	reader := tlog.TileHashReader(tree, &tiles{base: base, saved: map[tlog.Tile][]byte{}})
	root, err := tlog.TreeHash(tree.N, reader)
	if err != nil {
		return err
	}
	if root != tree.Hash {
		return fmt.Errorf("tree hash from tiles differs from the checkpoint")
	}
	index := int64(0)
	for n := int64(0); n*256 < tree.N; n++ {
		width := tree.N - n*256
		if width > 256 {
			width = 256
		}
		bundle, err := fetch(base + bundlePath(n, width))
		if err != nil {
			return err
		}
		for len(bundle) > 0 {
			if len(bundle) < 2 {
				return fmt.Errorf("truncated bundle %d", n)
			}
			size := int(binary.BigEndian.Uint16(bundle))
			if len(bundle) < 2+size {
				return fmt.Errorf("truncated entry in bundle %d", n)
			}
			entry := bundle[2 : 2+size]
			bundle = bundle[2+size:]
			proof, err := tlog.ProveRecord(tree.N, index, reader)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, tlog.RecordHash(entry)); err != nil {
				return fmt.Errorf("entry %d: %v", index, err)
			}
			index++
		}
	}
	if index != tree.N {
		return fmt.Errorf("bundles hold %d entries, checkpoint says %d", index, tree.N)
	}
	if len(os.Args) > 3 {
		old, err := os.ReadFile(os.Args[3])
		if err != nil {
			return err
		}
		oldTree, err := openCheckpoint(old, verifiers, origin)
		if err != nil {
			return err
		}
		proof, err := tlog.ProveTree(tree.N, oldTree.N, reader)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, oldTree.N, oldTree.Hash); err != nil {
			return fmt.Errorf("old checkpoint is not a prefix: %v", err)
		}
	}
	fmt.Printf("OK %s size %d\n", origin, tree.N)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
}
