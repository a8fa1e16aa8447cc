// Package wire is the small binary vocabulary the project's batch coders
// share: varints, length-prefixed bytes and component keys, read by a
// Decoder that remembers its first error.
package wire

import (
	"encoding/binary"
	"errors"

	"github.com/kmtrain/knowledgemodel/features"
)

// ErrCorrupt is the error of an encoding that ends early or does not
// decode.
var ErrCorrupt = errors.New("corrupt batch encoding")

// Decoder reads from B. After the first failed read Err is ErrCorrupt, B
// is empty and every later read returns zero values.
type Decoder struct {
	B   []byte
	Err error
}

func (d *Decoder) fail() {
	d.Err = ErrCorrupt
	d.B = nil
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.B)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Varint reads a signed varint.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.B)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.B = d.B[n:]
	return v
}

// Bytes reads the next n bytes; the slice aliases B.
func (d *Decoder) Bytes(n uint64) []byte {
	if uint64(len(d.B)) < n {
		d.fail()
		return nil
	}
	v := d.B[:n]
	d.B = d.B[n:]
	return v
}

// AppendKey writes a component key: two length-prefixed strings and a
// byte.
func AppendKey(out []byte, k features.ComponentKey) []byte {
	out = binary.AppendUvarint(out, uint64(len(k.Exercise)))
	out = append(out, k.Exercise...)
	out = binary.AppendUvarint(out, uint64(len(k.ProblemType)))
	out = append(out, k.ProblemType...)
	if k.Correct {
		return append(out, 1)
	}
	return append(out, 0)
}

// Key reads a component key written by AppendKey.
func (d *Decoder) Key() features.ComponentKey {
	var k features.ComponentKey
	k.Exercise = string(d.Bytes(d.Uvarint()))
	k.ProblemType = string(d.Bytes(d.Uvarint()))
	c := d.Bytes(1)
	k.Correct = len(c) == 1 && c[0] == 1
	return k
}
