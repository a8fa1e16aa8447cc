// Package wire is the small binary vocabulary the project's encodings
// share (the batch coders, a student's state, the live pipeline's state):
// varints, little-endian floats, length-prefixed bytes, times and
// booleans, written by the Append functions and read by a Decoder that
// remembers its first error.
package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"time"
)

// ErrCorrupt is the error of an encoding that ends early or does not
// decode.
var ErrCorrupt = errors.New("corrupt batch encoding")

// MaxCount is the largest count Decoder.Count accepts.
const MaxCount = 1 << 40

// AppendPrefixed appends v after its length as a uvarint.
func AppendPrefixed(out, v []byte) []byte {
	return append(binary.AppendUvarint(out, uint64(len(v))), v...)
}

// AppendPrefixedString appends s after its length as a uvarint.
func AppendPrefixedString(out []byte, s string) []byte {
	return append(binary.AppendUvarint(out, uint64(len(s))), s...)
}

// AppendFloat64 appends v's IEEE 754 bits, little-endian.
func AppendFloat64(out []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
}

// AppendTime appends a zero byte for the zero time, else a one byte and
// t's Unix nanoseconds as a varint.
func AppendTime(out []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(out, 0)
	}
	return binary.AppendVarint(append(out, 1), t.UnixNano())
}

// AppendBool appends 1 for true, 0 for false.
func AppendBool(out []byte, v bool) []byte {
	if v {
		return append(out, 1)
	}
	return append(out, 0)
}

// Decoder reads from B. After the first failed read Err is ErrCorrupt, B
// is empty and every later read returns zero values.
type Decoder struct {
	B   []byte
	Err error
}

// OK reports whether every read so far succeeded.
func (d *Decoder) OK() bool { return d.Err == nil }

func (d *Decoder) fail() {
	d.Err = ErrCorrupt
	d.B = nil
}

// Byte reads one byte.
func (d *Decoder) Byte() byte {
	if len(d.B) == 0 {
		d.fail()
		return 0
	}
	v := d.B[0]
	d.B = d.B[1:]
	return v
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

// Count reads a uvarint that counts something, at most MaxCount: a
// corrupt count fails here rather than sizing an allocation or a loop.
func (d *Decoder) Count() int {
	v := d.Uvarint()
	if v > MaxCount {
		d.fail()
		return 0
	}
	return int(v)
}

// Float64 reads what AppendFloat64 wrote.
func (d *Decoder) Float64() float64 {
	b := d.Bytes(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// Bytes reads the next n bytes; the slice aliases B, with no room to grow
// into what follows.
func (d *Decoder) Bytes(n uint64) []byte {
	if uint64(len(d.B)) < n {
		d.fail()
		return nil
	}
	v := d.B[:n:n]
	d.B = d.B[n:]
	return v
}

// Prefixed reads what AppendPrefixed wrote; the slice aliases B.
func (d *Decoder) Prefixed() []byte { return d.Bytes(d.Uvarint()) }

// PrefixedString reads what AppendPrefixedString wrote.
func (d *Decoder) PrefixedString() string { return string(d.Prefixed()) }

// Time reads what AppendTime wrote, in UTC.
func (d *Decoder) Time() time.Time {
	switch d.Byte() {
	case 0:
		return time.Time{}
	case 1:
		if v := d.Varint(); d.Err == nil {
			return time.Unix(0, v).UTC()
		}
		return time.Time{}
	}
	d.fail()
	return time.Time{}
}

// Bool reads what AppendBool wrote; a byte other than 0 or 1 fails.
func (d *Decoder) Bool() bool {
	switch d.Byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}
