package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/pandodc/pando/kernel/kernelpb"
)

const digestPrefix = kernelpb.DigestPrefix

// Digest returns the content address of data.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return digestPrefix + hex.EncodeToString(sum[:])
}

// ParseDigest checks that d is "sha256:" followed by 64 lowercase hex digits
// and returns the hex part, which is safe to use as a file name (the one
// validator, kernelpb.ParseDigest, which the master also uses).
func ParseDigest(d string) (string, error) { return kernelpb.ParseDigest(d) }

// wasmMagic opens every WebAssembly binary module.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// CheckWasm says, for a person, why data is not a WebAssembly module, or
// returns nil. It checks only the header: the runtime validates the rest.
func CheckWasm(name string, data []byte) error {
	if len(data) >= 8 && string(data[:4]) == string(wasmMagic) {
		return nil
	}
	head := data
	if len(head) > 4 {
		head = head[:4]
	}
	return fmt.Errorf("%s is not a WebAssembly module (it starts with %q, not \"\\x00asm\"); build Go programs with GOOS=wasip1 GOARCH=wasm go build", name, head)
}
