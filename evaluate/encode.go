package evaluate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// accMagic starts the encoding of an Accumulator; its last byte is the
// format version.
const accMagic = "kmev\x02"

// one is the bit pattern of 1.0: the patterns of [0, 1] are [0, one].
var one = math.Float64bits(1)

// MarshalBinary encodes the accumulator (encoding.BinaryMarshaler). The
// encoding is canonical: accumulators holding the same attempts encode to
// the same bytes. It holds the baseline names, then per exercise and
// segment (sorted) the segment, the no-thetas count and, per scorer, the sorted histogram as uvarints:
// the increase of p's bit pattern over the previous run's, then the correct
// and wrong counts. A run of a continuous prediction takes about 8 bytes,
// a baseline's repeated value a few bytes per exercise.
func (a *Accumulator) MarshalBinary() ([]byte, error) {
	keys := a.sortedKeys()
	size := len(accMagic) + 16
	for _, e := range a.exercises {
		for i := range e.scores {
			size += 8 * len(e.scores[i].runs)
		}
	}
	b := make([]byte, 0, size)
	b = append(b, accMagic...)
	b = binary.AppendUvarint(b, uint64(len(a.names)))
	for _, n := range a.names {
		b = appendString(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		e := a.exercises[k]
		b = appendString(b, k.exercise)
		b = binary.AppendUvarint(b, uint64(k.segment))
		b = binary.AppendUvarint(b, e.noThetas)
		for _, h := range e.scores {
			b = binary.AppendUvarint(b, uint64(len(h.runs)))
			var prev uint64
			for _, r := range h.runs {
				bits := math.Float64bits(r.P)
				b = binary.AppendUvarint(b, bits-prev)
				b = binary.AppendUvarint(b, uint64(r.Pos))
				b = binary.AppendUvarint(b, uint64(r.Neg))
				prev = bits
			}
		}
	}
	return b, nil
}

// UnmarshalBinary replaces the accumulator's contents with an encoding made
// by MarshalBinary (encoding.BinaryUnmarshaler).
func (a *Accumulator) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if !strings.HasPrefix(string(data), accMagic) {
		return errors.New("evaluate: not an encoded Accumulator (or an unknown version)")
	}
	d.b = d.b[len(accMagic):]
	names := make([]string, d.count(1))
	for i := range names {
		names[i] = d.string()
	}
	if d.err == nil {
		if err := checkNames(names); err != nil {
			return err
		}
	}
	nex := d.count(3 + len(names))
	exercises := make(map[key]*exercise, nex)
	for k := 0; k < nex && d.err == nil; k++ {
		name := d.string()
		seg := d.uvarint()
		if seg >= NumSegments {
			d.fail("exercise %q: unknown segment %d", name, seg)
		}
		kk := key{name, Segment(seg)}
		if _, dup := exercises[kk]; dup {
			d.fail("exercise %q, segment %d twice", name, seg)
		}
		e := &exercise{noThetas: d.uvarint(), scores: make([]hist, 1+len(names))}
		for i := range e.scores {
			rs := make([]run, d.count(3))
			var prev uint64
			for j := range rs {
				bits := prev + d.uvarint()
				pos, neg := d.uvarint(), d.uvarint()
				switch {
				case bits < prev || bits > one:
					d.fail("exercise %q: prediction out of order or outside [0, 1]", name)
				case pos > maxCount || neg > maxCount || pos+neg == 0:
					d.fail("exercise %q: bad counts %d, %d", name, pos, neg)
				}
				if d.err != nil { // a bad run (a NaN p) must not be kept
					rs = rs[:j]
					break
				}
				rs[j] = run{P: math.Float64frombits(bits), Pos: uint32(pos), Neg: uint32(neg)}
				prev = bits
			}
			rs = compactSorted(rs)
			e.scores[i] = hist{runs: rs}
		}
		if e.noThetas == 0 && len(e.scores[0].runs) == 0 {
			d.fail("exercise %q has no attempts", name)
		}
		exercises[kk] = e
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	*a = Accumulator{names: names, exercises: exercises}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads uvarints; after the first error it reads zeros.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("evaluate: bad Accumulator encoding: "+format, args...)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("truncated or overlong number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items that take at least size bytes each.
func (d *decoder) count(size int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/size) {
		d.fail("count %d exceeds the data", v)
		return 0
	}
	return int(v)
}

func (d *decoder) string() string {
	n := d.count(1)
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
