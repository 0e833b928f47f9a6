package sim

// Op is one input decoded from fuzz data: Kind picks the input type, Peer
// its sender, Body is the rest (a protobuf body, an id).
type Op struct {
	Kind, Peer byte
	Body       []byte
}

// Ops splits fuzz data into a bounded sequence of inputs, each encoded as
// kind, peer, a 2-byte big-endian length and that many bytes of body (cut
// short at the end of data). A sequence, rather than one input, lets the
// fuzzer reach states that only a series of messages builds.
func Ops(data []byte) []Op {
	const maxOps = 32
	var ops []Op
	for len(data) >= 4 && len(ops) < maxOps {
		n := int(data[2])<<8 | int(data[3])
		body := data[4:]
		if n < len(body) {
			body = body[:n]
		}
		ops = append(ops, Op{Kind: data[0], Peer: data[1], Body: body})
		data = data[4+len(body):]
	}
	return ops
}

// EncodeOp is the inverse of Ops for one input, to build seeds.
func EncodeOp(kind, peer byte, body []byte) []byte {
	return append([]byte{kind, peer, byte(len(body) >> 8), byte(len(body))}, body...)
}
