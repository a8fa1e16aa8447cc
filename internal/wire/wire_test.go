package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

// encodeAll writes one value of every kind, in the order readAll reads them.
func encodeAll() []byte {
	b := []byte{7}
	b = binary.AppendUvarint(b, 300)
	b = binary.AppendVarint(b, -5)
	b = binary.AppendUvarint(b, 42)
	b = AppendFloat64(b, 0.25)
	b = AppendPrefixed(b, []byte{1, 2, 3})
	b = AppendPrefixedString(b, "skill_1")
	b = AppendTime(b, time.Time{})
	b = AppendTime(b, time.Date(2009, 9, 1, 0, 1, 0, 5, time.UTC))
	b = AppendBool(b, true)
	return AppendBool(b, false)
}

type values struct {
	byte_   byte
	uvarint uint64
	varint  int64
	count   int
	float   float64
	raw     []byte
	str     string
	zero    time.Time
	when    time.Time
	yes, no bool
}

func readAll(d *Decoder) values {
	var v values
	v.byte_ = d.Byte()
	v.uvarint = d.Uvarint()
	v.varint = d.Varint()
	v.count = d.Count()
	v.float = d.Float64()
	v.raw = d.Prefixed()
	v.str = d.PrefixedString()
	v.zero = d.Time()
	v.when = d.Time()
	v.yes = d.Bool()
	v.no = d.Bool()
	return v
}

func TestRoundTrip(t *testing.T) {
	d := &Decoder{B: encodeAll()}
	v := readAll(d)
	if !d.OK() || len(d.B) != 0 {
		t.Fatalf("err %v, %d bytes left", d.Err, len(d.B))
	}
	want := time.Date(2009, 9, 1, 0, 1, 0, 5, time.UTC)
	if v.byte_ != 7 || v.uvarint != 300 || v.varint != -5 || v.count != 42 || v.float != 0.25 ||
		string(v.raw) != "\x01\x02\x03" || v.str != "skill_1" || !v.zero.IsZero() || !v.when.Equal(want) ||
		v.when.Location() != time.UTC || !v.yes || v.no {
		t.Errorf("read %+v", v)
	}
	if cap(v.raw) != len(v.raw) {
		t.Errorf("Prefixed has capacity %d beyond its %d bytes: an append would overwrite what follows", cap(v.raw), len(v.raw))
	}
}

// Every truncation of a valid encoding fails with ErrCorrupt and reads
// zero values from the first failure on, without panicking.
func TestTruncated(t *testing.T) {
	b := encodeAll()
	for n := 0; n < len(b); n++ {
		d := &Decoder{B: b[:n:n]}
		readAll(d)
		if !errors.Is(d.Err, ErrCorrupt) || d.OK() || len(d.B) != 0 {
			t.Errorf("first %d of %d bytes: err %v, %d bytes left", n, len(b), d.Err, len(d.B))
		}
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		read func(*Decoder)
	}{
		{"bool byte 2", []byte{2}, func(d *Decoder) { d.Bool() }},
		{"time tag 2", []byte{2, 0}, func(d *Decoder) { d.Time() }},
		{"count over MaxCount", binary.AppendUvarint(nil, MaxCount+1), func(d *Decoder) { d.Count() }},
		{"length beyond the data", binary.AppendUvarint(nil, 5), func(d *Decoder) { d.Prefixed() }},
		{"uvarint overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, func(d *Decoder) { d.Uvarint() }},
		{"float of 7 bytes", make([]byte, 7), func(d *Decoder) { d.Float64() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{B: tt.b}
			tt.read(d)
			if !errors.Is(d.Err, ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", d.Err)
			}
			if d.Byte() != 0 || d.Float64() != 0 || d.PrefixedString() != "" || !d.Time().IsZero() {
				t.Error("a read after the failure returned a value")
			}
		})
	}
}

func TestFloat64Bits(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64} {
		d := &Decoder{B: AppendFloat64(nil, v)}
		if got := d.Float64(); math.Float64bits(got) != math.Float64bits(v) {
			t.Errorf("%v read as %v", v, got)
		}
	}
}
