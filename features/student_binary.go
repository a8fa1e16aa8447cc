package features

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/kmtrain/knowledgemodel/internal/wire"
)

// studentEncoding is the first byte of a Student's binary form. Version 1,
// written before recent_correct, is still read (see ReadStudent).
const (
	studentEncoding   = 2
	studentEncodingV1 = 1
)

// ErrCorruptStudent is the error of a student's state that does not decode.
var ErrCorruptStudent = errors.New("corrupt student state")

// ErrKeyingChanged is ReadStudent's error for a state written under
// KeyByExercise and read under KeyByProblemType: the problem types of the
// student's first problems are not in it, so its KnowledgeState cannot be
// made under the new keying.
var ErrKeyingChanged = errors.New("student state written under components keyed by exercise, read under components keyed by problem type")

// AppendBinary appends the student's state to b in the compact form that
// ReadStudent reads: per exercise its packed ExerciseState and totals, the
// keys of the KnowledgeState's components in the order they were added,
// and the whole-history counts. Its size grows with the exercises started,
// not with the attempts made. The KnowledgeState's values are not written:
// ReadStudent sums them again, in the same order, bit for bit.
func (s *Student) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, studentEncoding, byte(s.previous+1))
	b = binary.AppendUvarint(b, uint64(s.attempts))
	b = binary.AppendUvarint(b, uint64(s.correct))
	b = wire.AppendFloat64(b, s.recent)
	names := make([]string, 0, len(s.exercises))
	for name := range s.exercises {
		names = append(names, name)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		e := s.exercises[name]
		b = wire.AppendPrefixedString(b, name)
		b = binary.AppendUvarint(b, uint64(e.state.Pack()))
		b = binary.AppendUvarint(b, uint64(e.totals.attempts))
		b = binary.AppendUvarint(b, uint64(e.totals.correct))
		b = wire.AppendTime(b, e.totals.last)
	}
	b = binary.AppendUvarint(b, uint64(len(s.started)))
	for _, k := range s.started {
		b = AppendComponentKey(b, k)
	}
	return b, nil
}

// ReadStudent returns the student whose state AppendBinary wrote, with a
// KnowledgeState that sums c's vectors of the components it was made of:
// read under another version's table, the student's history is the same
// and the KnowledgeState that version's. Under c's keying: a state written
// under KeyByProblemType reads under KeyByExercise, each component keyed
// coarser; the other way round is ErrKeyingChanged. A state of version 1
// has no recent_correct: it reads as the student's correct rate
// (RecentSeed before any attempt), the nearest to it that the counts say.
func ReadStudent(c *Components, data []byte) (*Student, error) {
	r := wire.Decoder{B: data}
	version := r.Byte()
	if version != studentEncoding && version != studentEncodingV1 {
		return nil, ErrCorruptStudent
	}
	s := NewStudent(c)
	s.previous = int8(r.Byte()) - 1
	s.attempts = r.Count()
	s.correct = r.Count()
	if version == studentEncodingV1 {
		if s.attempts > 0 {
			s.recent = float64(s.correct) / float64(s.attempts)
		}
	} else if s.recent = r.Float64(); !(s.recent >= 0 && s.recent <= 1) {
		return nil, ErrCorruptStudent
	}
	prev := ""
	for n, first := r.Count(), true; n > 0 && r.OK(); n, first = n-1, false {
		name := r.PrefixedString()
		if !first && name <= prev { // AppendBinary writes them sorted, once each
			return nil, ErrCorruptStudent
		}
		prev = name
		packed := r.Uvarint()
		e := &exerciseRecord{}
		var err error
		if e.state, err = UnpackExerciseState(uint32(packed)); err != nil || packed > 1<<32-1 {
			return nil, ErrCorruptStudent
		}
		e.totals.attempts = r.Count()
		e.totals.correct = r.Count()
		e.totals.last = r.Time()
		if e.totals.correct > e.totals.attempts || e.state.Len() != min(e.totals.attempts, HistoryLimit) {
			return nil, ErrCorruptStudent
		}
		s.exercises[name] = e
	}
	for n := r.Count(); n > 0 && r.OK(); n-- {
		k := ReadComponentKey(&r)
		if !r.OK() {
			break
		}
		// A real problem type is never empty: a key without one was
		// written under KeyByExercise.
		switch {
		case c.Keying == KeyByExercise:
			k.ProblemType = "" // the same first problems, keyed coarser
		case k.ProblemType == "":
			return nil, ErrKeyingChanged
		}
		s.started = append(s.started, k)
		s.knowledge.Add(c.Vector(k))
	}
	if !r.OK() || len(r.B) != 0 || s.previous < -1 || s.previous > 1 || s.correct > s.attempts {
		return nil, ErrCorruptStudent
	}
	return s, nil
}

// LastAttempt returns the time of the latest attempt applied, or the zero
// time if there is none.
func (s *Student) LastAttempt() time.Time {
	var last time.Time
	for _, e := range s.exercises {
		if e.totals.last.After(last) {
			last = e.totals.last
		}
	}
	return last
}
