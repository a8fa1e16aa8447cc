package trainer

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/wire"
)

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

// AppendBinary appends the batch's encoding to out: the keys once, the
// correct answers as bits, each row's sample key, packed ExerciseState
// and component ids as varints, and the extended features' section only
// when the batch has them.
func (b *RowBatch) AppendBinary(out []byte) ([]byte, error) {
	n := len(b.Correct)
	out = slices.Grow(out, 16+(n+7)/8+12*n+2*len(b.KnowledgeIDs))
	out = binary.AppendUvarint(out, uint64(len(b.Keys)))
	for _, k := range b.Keys {
		out = features.AppendComponentKey(out, k)
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
			out = wire.AppendPrefixedString(out, t)
		}
		for i := 0; i < n; i++ {
			out = binary.AppendUvarint(out, uint64(b.ProblemType[i]))
			out = append(out, b.Fold[i])
			for _, v := range b.RowExtras(i) {
				out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
			}
		}
	}
	return out, nil
}

// MarshalBinary returns the batch's encoding (AppendBinary).
func (b *RowBatch) MarshalBinary() ([]byte, error) { return b.AppendBinary(nil) }

// UnmarshalBinary sets b to the batch that data encodes, or returns an
// error wrapping wire.ErrCorrupt.
func (b *RowBatch) UnmarshalBinary(data []byte) error {
	v, err := decodeRowBatch(data)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func decodeRowBatch(data []byte) (RowBatch, error) {
	d := &wire.Decoder{B: data}
	nkeys := d.Uvarint()
	if d.Err != nil || nkeys > uint64(len(d.B)) {
		return RowBatch{}, wire.ErrCorrupt
	}
	var b RowBatch
	b.Keys = make([]features.ComponentKey, nkeys)
	for i := range b.Keys {
		b.Keys[i] = features.ReadComponentKey(d)
	}
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.B)) {
		return RowBatch{}, wire.ErrCorrupt
	}
	bits := d.Bytes((n + 7) / 8)
	if d.Err != nil {
		return RowBatch{}, wire.ErrCorrupt
	}
	b.Correct = make([]bool, n)
	b.Sample = make([]uint64, n)
	b.History = make([]uint32, n)
	b.KnowledgeEnd = make([]uint32, n)
	for i := range b.Correct {
		b.Correct[i] = bits[i/8]&(1<<(i%8)) != 0
		s := d.Bytes(8)
		if d.Err != nil {
			return RowBatch{}, wire.ErrCorrupt
		}
		b.Sample[i] = binary.LittleEndian.Uint64(s)
		b.History[i] = uint32(d.Uvarint())
		k := d.Uvarint()
		if k > uint64(len(d.B)) {
			return RowBatch{}, wire.ErrCorrupt
		}
		for j := uint64(0); j < k; j++ {
			id := d.Uvarint()
			if id >= nkeys {
				return RowBatch{}, fmt.Errorf("row batch: component id %d of %d: %w", id, nkeys, wire.ErrCorrupt)
			}
			b.KnowledgeIDs = append(b.KnowledgeIDs, uint32(id))
		}
		b.KnowledgeEnd[i] = uint32(len(b.KnowledgeIDs))
	}
	if d.Err == nil && len(d.B) > 0 && d.B[0] == 1 {
		d.B = d.B[1:]
		b.Extended = true
		nt := d.Uvarint()
		if d.Err != nil || nt > uint64(len(d.B)) {
			return RowBatch{}, wire.ErrCorrupt
		}
		b.ProblemTypes = make([]string, nt)
		for i := range b.ProblemTypes {
			b.ProblemTypes[i] = d.PrefixedString()
		}
		if d.Err != nil || n*(2+8*features.NumStudentExtras) > uint64(len(d.B)) {
			return RowBatch{}, wire.ErrCorrupt
		}
		b.ProblemType = make([]uint32, n)
		b.Fold = make([]uint8, n)
		b.Extras = make([]float64, 0, n*features.NumStudentExtras)
		for i := range b.ProblemType {
			t := d.Uvarint()
			if t >= nt {
				return RowBatch{}, fmt.Errorf("row batch: problem type %d of %d: %w", t, nt, wire.ErrCorrupt)
			}
			b.ProblemType[i] = uint32(t)
			f := d.Bytes(1)
			x := d.Bytes(8 * features.NumStudentExtras)
			if d.Err != nil || f[0] >= features.DifficultyFolds {
				return RowBatch{}, wire.ErrCorrupt
			}
			b.Fold[i] = f[0]
			for j := 0; j < features.NumStudentExtras; j++ {
				b.Extras = append(b.Extras, math.Float64frombits(binary.LittleEndian.Uint64(x[8*j:])))
			}
		}
	}
	if d.Err != nil || len(d.B) != 0 {
		return RowBatch{}, fmt.Errorf("row batch of %d rows: %w", n, wire.ErrCorrupt)
	}
	return b, nil
}
