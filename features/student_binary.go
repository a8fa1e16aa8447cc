package features

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"time"
)

// studentEncoding is the first byte of a Student's binary form. Version 1,
// written before recent_correct, is still read (see ReadStudent).
const (
	studentEncoding   = 2
	studentEncodingV1 = 1
)

// ErrCorruptStudent is the error of a student's state that does not decode.
var ErrCorruptStudent = errors.New("corrupt student state")

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
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.recent))
	names := make([]string, 0, len(s.exercises))
	for name := range s.exercises {
		names = append(names, name)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, name := range names {
		e := s.exercises[name]
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(e.state.Pack()))
		b = binary.AppendUvarint(b, uint64(e.totals.attempts))
		b = binary.AppendUvarint(b, uint64(e.totals.correct))
		b = appendTime(b, e.totals.last)
	}
	b = binary.AppendUvarint(b, uint64(len(s.started)))
	for _, k := range s.started {
		b = appendString(b, k.Exercise)
		b = appendString(b, k.ProblemType)
		b = append(b, boolByte(k.Correct))
	}
	return b, nil
}

// ReadStudent returns the student whose state AppendBinary wrote, with a
// KnowledgeState that sums c's vectors of the components it was made of:
// read under another version's table, the student's history is the same
// and the KnowledgeState that version's. A state of version 1 has no
// recent_correct: it reads as the student's correct rate (RecentSeed
// before any attempt), the nearest to it that the counts say.
func ReadStudent(c *Components, data []byte) (*Student, error) {
	r := reader{b: data}
	version := r.byte()
	if version != studentEncoding && version != studentEncodingV1 {
		return nil, ErrCorruptStudent
	}
	s := NewStudent(c)
	s.previous = int8(r.byte()) - 1
	s.attempts = r.count()
	s.correct = r.count()
	if version == studentEncodingV1 {
		if s.attempts > 0 {
			s.recent = float64(s.correct) / float64(s.attempts)
		}
	} else if s.recent = r.float(); !(s.recent >= 0 && s.recent <= 1) {
		return nil, ErrCorruptStudent
	}
	for n := r.count(); n > 0 && r.ok(); n-- {
		name := r.string()
		packed := r.uvarint()
		e := &exerciseRecord{}
		var err error
		if e.state, err = UnpackExerciseState(uint32(packed)); err != nil || packed > 1<<32-1 {
			return nil, ErrCorruptStudent
		}
		e.totals.attempts = r.count()
		e.totals.correct = r.count()
		e.totals.last = r.time()
		s.exercises[name] = e
	}
	for n := r.count(); n > 0 && r.ok(); n-- {
		k := ComponentKey{Exercise: r.string(), ProblemType: r.string()}
		switch r.byte() {
		case 0:
		case 1:
			k.Correct = true
		default:
			return nil, ErrCorruptStudent
		}
		if !r.ok() {
			break
		}
		s.started = append(s.started, k)
		s.knowledge.Add(c.Vector(k))
	}
	if !r.ok() || len(r.b) != 0 || s.previous < -1 || s.previous > 1 || s.correct > s.attempts {
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

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// reader reads what AppendBinary wrote; after its first failed read it
// reads zero values and ok is false.
type reader struct {
	b      []byte
	failed bool
}

func (r *reader) ok() bool { return !r.failed }

func (r *reader) fail() {
	r.failed = true
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count. Nothing is allocated by it, and a loop over a
// corrupt one stops at its first failed read.
func (r *reader) count() int {
	v := r.uvarint()
	if v > 1<<40 {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) time() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
		v, n := binary.Varint(r.b)
		if n <= 0 {
			r.fail()
			return time.Time{}
		}
		r.b = r.b[n:]
		return time.Unix(0, v).UTC()
	}
	r.fail()
	return time.Time{}
}
