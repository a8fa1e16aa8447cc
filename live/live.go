// Package live keeps what a stream of attempts needs of each student to
// score every attempt before applying it, in time order, once, when
// attempts arrive late, out of order or twice: the Record of the student
// (the replay state, the time it has been applied through, the ids of the
// attempts applied lately) and the Attempts waiting for the watermark.
// It is the pure part of the streaming scorer; a stateful DoFn keeps the
// values in Beam state and calls it.
//
// An attempt arrives and is admitted (Record.Admit): a duplicate of one
// pending or applied within the horizon is dropped; one older than the
// horizon before the student's latest applied attempt is too late to
// apply and dropped; one older than that latest attempt but within the
// horizon is applied at once, out of order; any other waits. When the
// watermark passes a time, the waiting attempts at or before it are Due
// and applied in the order features.SortLogs gives (Record.Apply).
package live

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/wire"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/score"
)

// Attempt is a ProblemLog as a stream delivers it.
type Attempt struct {
	// ID is the publisher's id of the attempt, the same on every
	// delivery; empty: none, and the attempt is never a duplicate.
	ID  string
	Log features.ProblemLog
	// History marks an attempt replayed from before the stream started:
	// applied to the student's state, not scored.
	History bool
}

// Attempts are a student's attempts that arrived together (in one bundle
// of a stream, or one batch of a file), in the order they came: a stream
// moves them as one element, so that a busy student costs one state read
// and write per bundle, not per attempt.
type Attempts []Attempt

// AppendBinary appends as to b in the form ReadAttempts reads.
func (as Attempts) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(as)))
	for _, a := range as {
		b = a.AppendBinary(b)
	}
	return b
}

// ReadAttempts returns the Attempts AppendBinary wrote.
func ReadAttempts(data []byte) (Attempts, error) {
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)) {
		return nil, ErrCorrupt
	}
	rest := data[k:]
	as := make(Attempts, 0, n)
	for ; n > 0; n-- {
		a, r, err := ReadAttempt(rest)
		if err != nil {
			return nil, ErrCorrupt
		}
		as, rest = append(as, a), r
	}
	if len(rest) != 0 {
		return nil, ErrCorrupt
	}
	return as, nil
}

// Earliest returns the earliest time_done of as, which must not be empty.
func (as Attempts) Earliest() time.Time {
	t := as[0].Log.TimeDone
	for _, a := range as[1:] {
		if a.Log.TimeDone.Before(t) {
			t = a.Log.TimeDone
		}
	}
	return t
}

// Seen is an attempt applied lately: its id and time_done.
type Seen struct {
	ID   string
	Time time.Time
}

// Record is what a stream keeps of a student between attempts. The zero
// Record is a student who has answered nothing.
type Record struct {
	// Through is the time_done of the latest attempt applied.
	Through time.Time
	// Recent holds the attempts applied within the horizon before Through
	// that had an id.
	Recent []Seen
	// State is the student's replay state (score.Student's AppendBinary);
	// empty when nothing has been applied.
	State []byte
}

// Verdict is what becomes of an arriving attempt.
type Verdict int

const (
	// Wait: the attempt waits for the watermark to pass it.
	Wait Verdict = iota
	// Now: the attempt is older than the latest one applied, within the
	// horizon: it is applied at once, out of order.
	Now
	// Duplicate: an attempt with its id is pending or was applied.
	Duplicate
	// TooLate: the attempt is older than the horizon before the latest
	// attempt applied; it is not applied.
	TooLate
)

// String returns the verdict's name.
func (v Verdict) String() string {
	return [...]string{"wait", "now", "duplicate", "too late"}[v]
}

// Admit says what becomes of attempt a, arriving while attempts with the
// ids pending wait. horizon is how long after the student's latest applied
// attempt an older one is still applied, and how long ids are remembered: a
// duplicate is recognised as long as it could be applied.
func (r *Record) Admit(a Attempt, pending []string, horizon time.Duration) Verdict {
	if a.ID != "" {
		if slices.ContainsFunc(r.Recent, func(s Seen) bool { return s.ID == a.ID }) || slices.Contains(pending, a.ID) {
			return Duplicate
		}
	}
	switch t := a.Log.TimeDone; {
	case r.Through.IsZero() || !t.Before(r.Through):
		return Wait
	case t.Before(r.Through.Add(-horizon)):
		return TooLate
	}
	return Now
}

// Waiting is a student's attempts waiting for the watermark, and when they
// are to be applied. The zero Waiting is no attempt waiting.
type Waiting struct {
	// At is the time (Unix ms) the waiting attempts up to which are applied
	// when the watermark passes it: the first to wait, or after a flush
	// the latest still waiting. Newer arrivals do not move it, so that a
	// busy student is still scored.
	At int64
	// Hold is the time (Unix ms) of the earliest waiting attempt, before
	// which no score may leave.
	Hold int64
	// Attempts wait, in the order they came.
	Attempts []Attempt
}

// None reports whether no attempt waits.
func (w *Waiting) None() bool { return len(w.Attempts) == 0 }

// IDs returns the ids of the waiting attempts that have one.
func (w *Waiting) IDs() []string {
	var ids []string
	for _, a := range w.Attempts {
		if a.ID != "" {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// Add makes a wait too, and reports whether At or Hold changed.
func (w *Waiting) Add(a Attempt) (changed bool) {
	t := a.Log.TimeDone.UnixMilli()
	w.Attempts = append(w.Attempts, a)
	switch {
	case len(w.Attempts) == 1:
		w.At, w.Hold = t, t
		return true
	case t < w.Hold:
		w.Hold = t
		return true
	}
	return false
}

// WaitingOf is the Waiting of attempts that wait after a flush: applied
// when the watermark passes the latest of them.
func WaitingOf(pending []Attempt) Waiting {
	w := Waiting{Attempts: pending}
	for i, a := range pending {
		t := a.Log.TimeDone.UnixMilli()
		if i == 0 || t > w.At {
			w.At = t
		}
		if i == 0 || t < w.Hold {
			w.Hold = t
		}
	}
	return w
}

// State is all a stream keeps of a student, in one value: the Record of
// what was applied and the attempts Waiting.
type State struct {
	Record  Record
	Waiting Waiting
}

// stateEncoding is the first byte of a State's binary form.
const stateEncoding = 1

// AppendBinary appends s to b in the form ReadState reads.
func (s State) AppendBinary(b []byte) []byte {
	b = append(b, stateEncoding)
	b = wire.AppendPrefixed(b, s.Record.AppendBinary(nil))
	b = binary.AppendVarint(b, s.Waiting.At)
	b = binary.AppendVarint(b, s.Waiting.Hold)
	b = binary.AppendUvarint(b, uint64(len(s.Waiting.Attempts)))
	for _, a := range s.Waiting.Attempts {
		b = a.AppendBinary(b)
	}
	return b
}

// ReadState returns the State AppendBinary wrote; its Record's State
// aliases data.
func ReadState(data []byte) (State, error) {
	d := wire.Decoder{B: data}
	if d.Byte() != stateEncoding {
		return State{}, ErrCorrupt
	}
	r, err := ReadRecord(d.Prefixed())
	if err != nil || !d.OK() {
		return State{}, ErrCorrupt
	}
	s := State{Record: r, Waiting: Waiting{At: d.Varint(), Hold: d.Varint()}}
	n := d.Uvarint()
	if !d.OK() || n > uint64(len(d.B)) {
		return State{}, ErrCorrupt
	}
	rest := d.B
	for ; n > 0; n-- {
		var a Attempt
		if a, rest, err = ReadAttempt(rest); err != nil {
			return State{}, ErrCorrupt
		}
		s.Waiting.Attempts = append(s.Waiting.Attempts, a)
	}
	if len(rest) != 0 {
		return State{}, ErrCorrupt
	}
	return s, nil
}

// Due splits pending into the attempts at or before upTo, in the order
// features.SortLogs gives, and the rest, in their order. Ties in every
// field are broken by id.
func Due(pending []Attempt, upTo time.Time) (due, rest []Attempt) {
	for _, a := range pending {
		if a.Log.TimeDone.After(upTo) {
			rest = append(rest, a)
		} else {
			due = append(due, a)
		}
	}
	slices.SortFunc(due, func(a, b Attempt) int {
		if c := features.CompareLogs(a.Log, b.Log); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return due, rest
}

// Apply scores each attempt of due under models, passing yield the
// predictions and the student in the state before the attempt, then
// applies it, and records it. Attempts are applied in the order given.
// The student's state is read from r.State and written back; ids older
// than horizon before Through are forgotten.
func (r *Record) Apply(due []Attempt, horizon time.Duration, models []*predict.Model,
	yield func(a Attempt, p []score.Prediction, s *score.Student) error) error {
	if len(due) == 0 {
		return nil
	}
	var st *score.Student
	if len(r.State) == 0 {
		st = score.NewStudent(models...)
	} else {
		var err error
		if st, err = score.ReadStudent(r.State, models...); err != nil {
			return err
		}
	}
	for _, a := range due {
		if err := yield(a, st.Score(a.Log), st); err != nil {
			return err
		}
		st.Apply(a.Log)
		if a.Log.TimeDone.After(r.Through) {
			r.Through = a.Log.TimeDone
		}
		if a.ID != "" {
			r.Recent = append(r.Recent, Seen{a.ID, a.Log.TimeDone})
		}
	}
	oldest := r.Through.Add(-horizon)
	r.Recent = slices.DeleteFunc(r.Recent, func(s Seen) bool { return s.Time.Before(oldest) })
	var err error
	r.State, err = st.AppendBinary(nil) // r.State may alias what it was read from
	return err
}

// recordEncoding is the first byte of a Record's binary form.
const recordEncoding = 1

// ErrCorrupt is the error of a record or an attempt that does not decode.
var ErrCorrupt = errors.New("corrupt live state")

// AppendBinary appends the record to b in the form ReadRecord reads.
func (r Record) AppendBinary(b []byte) []byte {
	b = append(b, recordEncoding)
	b = wire.AppendTime(b, r.Through)
	b = binary.AppendUvarint(b, uint64(len(r.Recent)))
	for _, s := range r.Recent {
		b = wire.AppendPrefixedString(b, s.ID)
		b = wire.AppendTime(b, s.Time)
	}
	return wire.AppendPrefixed(b, r.State)
}

// ReadRecord returns the record AppendBinary wrote; its State aliases data.
func ReadRecord(data []byte) (Record, error) {
	d := wire.Decoder{B: data}
	if d.Byte() != recordEncoding {
		return Record{}, ErrCorrupt
	}
	r := Record{Through: d.Time()}
	for n := d.Uvarint(); n > 0 && d.OK(); n-- {
		r.Recent = append(r.Recent, Seen{ID: d.PrefixedString(), Time: d.Time()})
	}
	r.State = d.Prefixed()
	if !d.OK() || len(d.B) != 0 {
		return Record{}, ErrCorrupt
	}
	return r, nil
}

// AppendBinary appends the attempt to b in the form ReadAttempt reads.
func (a Attempt) AppendBinary(b []byte) []byte {
	l := a.Log
	b = wire.AppendPrefixedString(b, a.ID)
	b = wire.AppendPrefixedString(b, l.User)
	b = wire.AppendPrefixedString(b, l.Exercise)
	b = wire.AppendPrefixedString(b, l.ProblemType)
	b = binary.AppendVarint(b, int64(l.ProblemNumber))
	b = wire.AppendTime(b, l.TimeDone)
	var flags byte
	if l.Correct {
		flags |= 1
	}
	if a.History {
		flags |= 2
	}
	return append(b, flags)
}

// ReadAttempt returns the attempt at the start of data, as AppendBinary
// wrote it, and the rest of data.
func ReadAttempt(data []byte) (Attempt, []byte, error) {
	d := wire.Decoder{B: data}
	a := Attempt{ID: d.PrefixedString()}
	a.Log.User = d.PrefixedString()
	a.Log.Exercise = d.PrefixedString()
	a.Log.ProblemType = d.PrefixedString()
	a.Log.ProblemNumber = int(d.Varint())
	a.Log.TimeDone = d.Time()
	flags := d.Byte()
	if flags&^3 != 0 {
		return Attempt{}, nil, ErrCorrupt
	}
	a.Log.Correct, a.History = flags&1 != 0, flags&2 != 0
	if !d.OK() {
		return Attempt{}, nil, ErrCorrupt
	}
	return a, d.B, nil
}
