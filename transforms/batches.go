package transforms

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// LogBatch is some of one student's ProblemLogs, as one element. Sources
// batch a file's logs per student so that the GroupByKey per student moves
// one element per student and file, not one per log.
type LogBatch struct {
	Logs []features.ProblemLog
}

// RowBatch is training rows of one exercise, as one element: the replay
// batches a bundle's rows per exercise before the GroupByKey per exercise.
type RowBatch struct {
	Correct []bool
	// Sample orders rows for the row cap: a hash of the attempt's identity,
	// so the cap keeps the same rows on any runner, in any order.
	Sample []uint64
	// X holds the rows' features, features.NumFeatures per row.
	X []float64
}

// Len returns the number of rows.
func (b *RowBatch) Len() int { return len(b.Correct) }

// Add appends a row.
func (b *RowBatch) Add(r *features.Row) {
	b.Correct = append(b.Correct, r.Correct)
	b.Sample = append(b.Sample, SampleKey(r))
	b.X = append(b.X, r.X[:]...)
}

// SampleKey hashes an attempt's identity (FNV-1a, 64 bits).
func SampleKey(r *features.Row) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h = (h ^ 0xff) * prime
	}
	mix(r.User)
	mix(r.Exercise)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(r.TimeDone.UnixNano()))
	binary.LittleEndian.PutUint64(b[8:], uint64(r.ProblemNumber))
	mix(string(b[:]))
	return h
}

// encodeLogBatch writes a batch compactly: the strings of a batch go into a
// table once, times as deltas.
func encodeLogBatch(b LogBatch) []byte {
	index := map[string]uint64{}
	var table []string
	ref := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(table))
			index[s] = i
			table = append(table, s)
		}
		return i
	}
	body := make([]byte, 0, 16*len(b.Logs))
	var prev int64
	for _, l := range b.Logs {
		body = binary.AppendUvarint(body, ref(l.User))
		body = binary.AppendUvarint(body, ref(l.Exercise))
		body = binary.AppendUvarint(body, ref(l.ProblemType))
		t := l.TimeDone.UnixNano()
		body = binary.AppendVarint(body, t-prev)
		prev = t
		n := int64(l.ProblemNumber) << 1
		if l.Correct {
			n |= 1
		}
		body = binary.AppendVarint(body, n)
	}
	out := binary.AppendUvarint(nil, uint64(len(table)))
	for _, s := range table {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	out = binary.AppendUvarint(out, uint64(len(b.Logs)))
	return append(out, body...)
}

var errCorrupt = errors.New("corrupt batch encoding")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if uint64(len(d.b)) < n {
		d.err = errCorrupt
		d.b = nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func decodeLogBatch(data []byte) (LogBatch, error) {
	d := &decoder{b: data}
	table := make([]string, d.uvarint())
	for i := range table {
		table[i] = string(d.bytes(d.uvarint()))
	}
	str := func() string {
		i := d.uvarint()
		if i >= uint64(len(table)) {
			d.err = errCorrupt
			return ""
		}
		return table[i]
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return LogBatch{}, errCorrupt
	}
	logs := make([]features.ProblemLog, n)
	var t int64
	for i := range logs {
		l := &logs[i]
		l.User, l.Exercise, l.ProblemType = str(), str(), str()
		t += d.varint()
		l.TimeDone = time.Unix(0, t).UTC()
		pn := d.varint()
		l.ProblemNumber, l.Correct = int(pn>>1), pn&1 == 1
	}
	if d.err != nil {
		return LogBatch{}, d.err
	}
	return LogBatch{Logs: logs}, nil
}

func encodeRowBatch(b RowBatch) []byte {
	n := len(b.Correct)
	out := make([]byte, 0, 10+(n+7)/8+8*n+8*len(b.X))
	out = binary.AppendUvarint(out, uint64(n))
	bits := make([]byte, (n+7)/8)
	for i, c := range b.Correct {
		if c {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	out = append(out, bits...)
	for _, h := range b.Sample {
		out = binary.LittleEndian.AppendUint64(out, h)
	}
	for _, x := range b.X {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out
}

func decodeRowBatch(data []byte) (RowBatch, error) {
	d := &decoder{b: data}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return RowBatch{}, errCorrupt
	}
	bits := d.bytes((n + 7) / 8)
	samples := d.bytes(8 * n)
	xs := d.bytes(8 * n * features.NumFeatures)
	if d.err != nil || len(d.b) != 0 {
		return RowBatch{}, fmt.Errorf("row batch of %d rows: %w", n, errCorrupt)
	}
	b := RowBatch{Correct: make([]bool, n), Sample: make([]uint64, n), X: make([]float64, n*features.NumFeatures)}
	for i := range b.Correct {
		b.Correct[i] = bits[i/8]&(1<<(i%8)) != 0
		b.Sample[i] = binary.LittleEndian.Uint64(samples[8*i:])
	}
	for i := range b.X {
		b.X[i] = math.Float64frombits(binary.LittleEndian.Uint64(xs[8*i:]))
	}
	return b, nil
}
