package tasklog

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Stream is stdout or stderr.
type Stream uint8

const (
	Stdout Stream = 1
	Stderr Stream = 2
)

// ParseStream turns "stdout" or "stderr" into a Stream.
func ParseStream(name string) (Stream, error) {
	switch name {
	case "stdout":
		return Stdout, nil
	case "stderr":
		return Stderr, nil
	}
	return 0, fmt.Errorf("stream %q: want stdout or stderr", name)
}

// String is the stream's name, also the name of its file in a sandbox.
func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

const (
	kindData uint8 = 1
	kindSeal uint8 = 2

	// headerSize is the fixed part of a record, after its length.
	headerSize = 1 + 1 + 8 + 8 + 2
	// maxKey bounds keys (framework id + task id, each at most 200).
	maxKey = 1 << 10
	// maxRecord bounds a record, so that a corrupt length is caught.
	maxRecord = 16 << 20
)

// record is one decoded record; data aliases the buffer it was read from.
type record struct {
	kind    uint8
	stream  Stream
	run, at int64
	key     string
	data    []byte
	dataOff int // offset of data within the record, length prefix included
}

// appendRecord encodes a record onto b.
func appendRecord(b []byte, kind uint8, stream Stream, run, at int64, key string, data []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(headerSize+len(key)+len(data)))
	b = append(b, kind, byte(stream))
	b = binary.LittleEndian.AppendUint64(b, uint64(run))
	b = binary.LittleEndian.AppendUint64(b, uint64(at))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(key)))
	b = append(b, key...)
	return append(b, data...)
}

var errCorrupt = errors.New("corrupt segment record")

// decodeRecord decodes the record at the start of b. It returns the
// record's size, or 0 if b holds only part of it (the writer is still
// writing it), or an error if b cannot start a record.
func decodeRecord(b []byte) (record, int, error) {
	if len(b) < 4 {
		return record{}, 0, nil
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < headerSize || n > maxRecord {
		return record{}, 0, fmt.Errorf("%w: length %d", errCorrupt, n)
	}
	if len(b) < 4+n {
		return record{}, 0, nil
	}
	b = b[4 : 4+n]
	r := record{
		kind: b[0], stream: Stream(b[1]),
		run: int64(binary.LittleEndian.Uint64(b[2:])),
		at:  int64(binary.LittleEndian.Uint64(b[10:])),
	}
	k := int(binary.LittleEndian.Uint16(b[18:]))
	if headerSize+k > n || (r.kind != kindData && r.kind != kindSeal) || (r.kind == kindData && r.stream != Stdout && r.stream != Stderr) {
		return record{}, 0, fmt.Errorf("%w: kind %d, stream %d, key length %d", errCorrupt, r.kind, r.stream, k)
	}
	r.key = string(b[headerSize : headerSize+k])
	r.data = b[headerSize+k:]
	r.dataOff = 4 + headerSize + k
	return r, 4 + n, nil
}
