package transforms

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

// LogBatch is ProblemLogs as one element. Sources batch the logs they read
// per group of students (StudentGroup) so that the GroupByKey that gathers
// each student's logs moves a few large elements per reader, not one per
// log or per student; after the replay, a held-out student's logs travel
// as one LogBatch keyed by the user.
type LogBatch struct {
	Logs []features.ProblemLog
}

// eachStudent gathers the logs of a group of students and calls f with
// each student's, students in order of user id and each student's logs in
// the order they came. f may keep the slice it is given.
func eachStudent(batches func(*LogBatch) bool, f func(user string, logs []features.ProblemLog) error) error {
	var all []features.ProblemLog
	var b LogBatch
	for batches(&b) {
		all = append(all, b.Logs...)
	}
	slices.SortStableFunc(all, func(x, y features.ProblemLog) int { return strings.Compare(x.User, y.User) })
	for len(all) > 0 {
		n := 1
		for n < len(all) && all[n].User == all[0].User {
			n++
		}
		if err := f(all[0].User, all[:n:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// RowBatch is training rows of one exercise, as one element: the replay
// batches a bundle's rows per exercise before the GroupByKey per exercise.
//
// Rows travel compactly, in the model's own terms: the ExerciseState before
// the attempt packed in 32 bits, and the KnowledgeState as the list of the
// components it sums (ids into the batch's Keys). That is some 20 bytes a row
// instead of 107 float64s; the trainer expands them with
// features.ExpandFeatures, to exactly the features the replay computed.
type RowBatch struct {
	Keys    []features.ComponentKey // the components the rows refer to
	Correct []bool
	// Sample orders rows for the row cap: a hash of the attempt's identity,
	// so the cap keeps the same rows on any runner, in any order.
	Sample  []uint64
	History []uint32 // features.ExerciseState.Pack() before the attempt
	// KnowledgeEnd[i] is where row i's component ids end in KnowledgeIDs.
	KnowledgeEnd []uint32
	KnowledgeIDs []uint32

	// With the extended feature set (Extended set before the first Add):
	// each row's features.Row.Extras, NumStudentExtras values a row, its
	// problem type (an index into ProblemTypes) and its student's
	// features.UserFold, from which the trainer estimates the problem
	// types' difficulty.
	Extended     bool
	Extras       []float64
	ProblemTypes []string
	ProblemType  []uint32
	Fold         []uint8

	ids   map[features.ComponentKey]uint32 // Keys' index, while adding
	types map[string]uint32                // ProblemTypes' index, while adding
	// The previous row's KnowledgeState and its ids: a student's component
	// list only grows, so the next row of the student shares its prefix.
	lastKnowledge []features.ComponentKey
	lastIDs       []uint32
}

// Len returns the number of rows.
func (b *RowBatch) Len() int { return len(b.Correct) }

// Knowledge returns the component ids of row i.
func (b *RowBatch) Knowledge(i int) []uint32 {
	start := uint32(0)
	if i > 0 {
		start = b.KnowledgeEnd[i-1]
	}
	return b.KnowledgeIDs[start:b.KnowledgeEnd[i]]
}

// Add appends a row.
func (b *RowBatch) Add(r *features.Row) {
	if b.ids == nil {
		b.ids = map[features.ComponentKey]uint32{}
	}
	b.Correct = append(b.Correct, r.Correct)
	b.Sample = append(b.Sample, SampleKey(r))
	b.History = append(b.History, r.History.Pack())
	known := 0 // leading components whose ids are lastIDs'
	if n := len(b.lastKnowledge); n > 0 && n <= len(r.Knowledge) && &r.Knowledge[0] == &b.lastKnowledge[0] {
		known = n
	}
	start := len(b.KnowledgeIDs)
	b.KnowledgeIDs = append(b.KnowledgeIDs, b.lastIDs[:known]...)
	for _, k := range r.Knowledge[known:] {
		id, ok := b.ids[k]
		if !ok {
			id = uint32(len(b.Keys))
			b.ids[k] = id
			b.Keys = append(b.Keys, k)
		}
		b.KnowledgeIDs = append(b.KnowledgeIDs, id)
	}
	b.KnowledgeEnd = append(b.KnowledgeEnd, uint32(len(b.KnowledgeIDs)))
	b.lastKnowledge = r.Knowledge
	b.lastIDs = b.KnowledgeIDs[start:len(b.KnowledgeIDs):len(b.KnowledgeIDs)]
	if b.Extended {
		if b.types == nil {
			b.types = map[string]uint32{}
		}
		id, ok := b.types[r.ProblemType]
		if !ok {
			id = uint32(len(b.ProblemTypes))
			b.types[r.ProblemType] = id
			b.ProblemTypes = append(b.ProblemTypes, r.ProblemType)
		}
		b.ProblemType = append(b.ProblemType, id)
		b.Fold = append(b.Fold, features.UserFold(r.User))
		b.Extras = append(b.Extras, r.Extras[:]...)
	}
}

// RowExtras returns the Extras of row i of an extended batch.
func (b *RowBatch) RowExtras(i int) []float64 {
	return b.Extras[i*features.NumStudentExtras : (i+1)*features.NumStudentExtras]
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

// appendKey writes a component key: two length-prefixed strings and a byte.
func appendKey(out []byte, k features.ComponentKey) []byte {
	out = binary.AppendUvarint(out, uint64(len(k.Exercise)))
	out = append(out, k.Exercise...)
	out = binary.AppendUvarint(out, uint64(len(k.ProblemType)))
	out = append(out, k.ProblemType...)
	if k.Correct {
		return append(out, 1)
	}
	return append(out, 0)
}

// key reads a component key written by appendKey.
func (d *decoder) key() features.ComponentKey {
	var k features.ComponentKey
	k.Exercise = string(d.bytes(d.uvarint()))
	k.ProblemType = string(d.bytes(d.uvarint()))
	c := d.bytes(1)
	k.Correct = len(c) == 1 && c[0] == 1
	return k
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
	out := make([]byte, 0, 16+(n+7)/8+12*n+2*len(b.KnowledgeIDs))
	out = binary.AppendUvarint(out, uint64(len(b.Keys)))
	for _, k := range b.Keys {
		out = appendKey(out, k)
	}
	out = binary.AppendUvarint(out, uint64(n))
	bits := make([]byte, (n+7)/8)
	for i, c := range b.Correct {
		if c {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	out = append(out, bits...)
	for i := 0; i < n; i++ {
		out = binary.LittleEndian.AppendUint64(out, b.Sample[i])
		out = binary.AppendUvarint(out, uint64(b.History[i]))
		ids := b.Knowledge(i)
		out = binary.AppendUvarint(out, uint64(len(ids)))
		for _, id := range ids {
			out = binary.AppendUvarint(out, uint64(id))
		}
	}
	if b.Extended {
		// An optional section: absent, the batch is of Khan's features.
		out = append(out, 1)
		out = binary.AppendUvarint(out, uint64(len(b.ProblemTypes)))
		for _, t := range b.ProblemTypes {
			out = binary.AppendUvarint(out, uint64(len(t)))
			out = append(out, t...)
		}
		for i := 0; i < n; i++ {
			out = binary.AppendUvarint(out, uint64(b.ProblemType[i]))
			out = append(out, b.Fold[i])
			for _, v := range b.RowExtras(i) {
				out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
			}
		}
	}
	return out
}

func decodeRowBatch(data []byte) (RowBatch, error) {
	d := &decoder{b: data}
	nkeys := d.uvarint()
	if d.err != nil || nkeys > uint64(len(d.b)) {
		return RowBatch{}, errCorrupt
	}
	var b RowBatch
	b.Keys = make([]features.ComponentKey, nkeys)
	for i := range b.Keys {
		b.Keys[i] = d.key()
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		return RowBatch{}, errCorrupt
	}
	bits := d.bytes((n + 7) / 8)
	if d.err != nil {
		return RowBatch{}, errCorrupt
	}
	b.Correct = make([]bool, n)
	b.Sample = make([]uint64, n)
	b.History = make([]uint32, n)
	b.KnowledgeEnd = make([]uint32, n)
	for i := range b.Correct {
		b.Correct[i] = bits[i/8]&(1<<(i%8)) != 0
		s := d.bytes(8)
		if d.err != nil {
			return RowBatch{}, errCorrupt
		}
		b.Sample[i] = binary.LittleEndian.Uint64(s)
		b.History[i] = uint32(d.uvarint())
		k := d.uvarint()
		if k > uint64(len(d.b)) {
			return RowBatch{}, errCorrupt
		}
		for j := uint64(0); j < k; j++ {
			id := d.uvarint()
			if id >= nkeys {
				return RowBatch{}, fmt.Errorf("row batch: component id %d of %d: %w", id, nkeys, errCorrupt)
			}
			b.KnowledgeIDs = append(b.KnowledgeIDs, uint32(id))
		}
		b.KnowledgeEnd[i] = uint32(len(b.KnowledgeIDs))
	}
	if d.err == nil && len(d.b) > 0 && d.b[0] == 1 {
		d.b = d.b[1:]
		b.Extended = true
		nt := d.uvarint()
		if d.err != nil || nt > uint64(len(d.b)) {
			return RowBatch{}, errCorrupt
		}
		b.ProblemTypes = make([]string, nt)
		for i := range b.ProblemTypes {
			b.ProblemTypes[i] = string(d.bytes(d.uvarint()))
		}
		if d.err != nil || n*(2+8*features.NumStudentExtras) > uint64(len(d.b)) {
			return RowBatch{}, errCorrupt
		}
		b.ProblemType = make([]uint32, n)
		b.Fold = make([]uint8, n)
		b.Extras = make([]float64, 0, n*features.NumStudentExtras)
		for i := range b.ProblemType {
			t := d.uvarint()
			if t >= nt {
				return RowBatch{}, fmt.Errorf("row batch: problem type %d of %d: %w", t, nt, errCorrupt)
			}
			b.ProblemType[i] = uint32(t)
			f := d.bytes(1)
			x := d.bytes(8 * features.NumStudentExtras)
			if d.err != nil || f[0] >= features.DifficultyFolds {
				return RowBatch{}, errCorrupt
			}
			b.Fold[i] = f[0]
			for j := 0; j < features.NumStudentExtras; j++ {
				b.Extras = append(b.Extras, math.Float64frombits(binary.LittleEndian.Uint64(x[8*j:])))
			}
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return RowBatch{}, fmt.Errorf("row batch of %d rows: %w", n, errCorrupt)
	}
	return b, nil
}
