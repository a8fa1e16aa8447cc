package features

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/internal/wire"
)

// randomLogs returns n attempts of one student at a few exercises, in time
// order, numbered per exercise as the webapp numbers them.
func randomLogs(n int, seed uint64) []ProblemLog {
	r := rand.New(rand.NewPCG(seed, 1))
	next := map[string]int{}
	t := time.Date(2014, 3, 1, 0, 0, 0, 0, time.UTC)
	logs := make([]ProblemLog, n)
	for i := range logs {
		ex := fmt.Sprintf("ex%d", r.IntN(6))
		next[ex]++
		t = t.Add(time.Duration(1+r.IntN(3600)) * time.Second)
		logs[i] = ProblemLog{User: "u", TimeDone: t, Exercise: ex, ProblemType: fmt.Sprintf("t%d", r.IntN(3)),
			ProblemNumber: next[ex], Correct: r.IntN(3) > 0}
	}
	return logs
}

// TestStudentBinaryRoundTrip checks that a student written and read back
// between any two attempts goes on with the same features, bit for bit,
// as one that was never written.
func TestStudentBinaryRoundTrip(t *testing.T) {
	logs := randomLogs(300, 7)
	straight := NewStudent(emptyTable())
	var saved []byte
	for i, l := range logs {
		read, err := ReadStudent(emptyTable(), saved)
		if i == 0 {
			read, err = NewStudent(emptyTable()), nil
		}
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if want, got := extendedFeatures(straight, l), extendedFeatures(read, l); !slices.Equal(want, got) {
			t.Fatalf("attempt %d: features %v after a round trip; want %v", i, got, want)
		}
		straight.Apply(l)
		read.Apply(l)
		if saved, err = read.AppendBinary(saved[:0]); err != nil {
			t.Fatal(err)
		}
		again, _ := straight.AppendBinary(nil)
		if !bytes.Equal(saved, again) {
			t.Fatalf("attempt %d: the encodings of equal students differ", i)
		}
	}
	if len(saved) > 400 {
		t.Errorf("state of 300 attempts at 6 exercises is %d bytes; it should grow with exercises, not attempts", len(saved))
	}
}

func TestReadStudentCorrupt(t *testing.T) {
	s := NewStudent(emptyTable())
	for _, l := range randomLogs(40, 3) {
		s.Apply(l)
	}
	good, _ := s.AppendBinary(nil)
	if _, err := ReadStudent(emptyTable(), good); err != nil {
		t.Fatal(err)
	}
	for n := range good {
		if _, err := ReadStudent(emptyTable(), good[:n]); err == nil {
			t.Errorf("a state cut to %d of %d bytes read without error", n, len(good))
		}
	}
	for _, b := range [][]byte{nil, {9}, append(slices.Clone(good), 0)} {
		if _, err := ReadStudent(emptyTable(), b); err == nil {
			t.Errorf("ReadStudent(%x) read without error", b)
		}
	}
}

// TestReadStudentInconsistent reads states whose every field decodes but
// which AppendBinary never writes: an exercise listed twice (the first
// would be silently dropped), exercises out of order, more correct answers
// than attempts, and a history of another length than the attempts say.
func TestReadStudentInconsistent(t *testing.T) {
	type record struct {
		name              string
		kept              int // answers in the ExerciseState
		attempts, correct int
	}
	encode := func(rs ...record) []byte {
		b := []byte{studentEncoding, 2}
		b = binary.AppendUvarint(b, 25)
		b = binary.AppendUvarint(b, 25)
		b = wire.AppendFloat64(b, 0.5)
		b = binary.AppendUvarint(b, uint64(len(rs)))
		for _, r := range rs {
			var s ExerciseState
			for range r.kept {
				s.Update(true)
			}
			b = wire.AppendPrefixedString(b, r.name)
			b = binary.AppendUvarint(b, uint64(s.Pack()))
			b = binary.AppendUvarint(b, uint64(r.attempts))
			b = binary.AppendUvarint(b, uint64(r.correct))
			b = wire.AppendTime(b, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC))
		}
		return binary.AppendUvarint(b, 0) // no components
	}
	if _, err := ReadStudent(emptyTable(), encode(record{"a", 5, 5, 5}, record{"b", 20, 20, 20})); err != nil {
		t.Fatalf("a consistent state: %v", err)
	}
	for name, b := range map[string][]byte{
		"an exercise twice":      encode(record{"ex", 20, 20, 20}, record{"ex", 5, 5, 5}),
		"exercises out of order": encode(record{"b", 5, 5, 5}, record{"a", 5, 5, 5}),
		"correct over attempts":  encode(record{"a", 5, 5, 6}),
		"history longer":         encode(record{"a", 6, 5, 5}),
		"history shorter":        encode(record{"a", 19, 25, 5}),
	} {
		if _, err := ReadStudent(emptyTable(), b); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
}

func FuzzReadStudent(f *testing.F) {
	s := NewStudent(emptyTable())
	for _, l := range randomLogs(30, 5) {
		s.Apply(l)
	}
	good, _ := s.AppendBinary(nil)
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ReadStudent(emptyTable(), data)
		if err != nil {
			return
		}
		again, err := st.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ReadStudent(emptyTable(), again); err != nil {
			t.Fatalf("a state that read once does not read again: %v", err)
		}
	})
}

// extendedFeatures returns the extended features s predicts l from.
func extendedFeatures(s *Student, l ProblemLog) []float64 {
	x := make([]float64, Extended.Dim())
	s.FeaturesOf(Extended, l, 0, x)
	return x
}

// emptyTable is a components table whose every vector is derived.
func emptyTable() *Components {
	c, err := NewComponents(nil)
	if err != nil {
		panic(err)
	}
	return c
}

// TestReadStudentVersion1 reads a state written before recent_correct: the
// student's history is the same, and recent_correct is the correct rate.
func TestReadStudentVersion1(t *testing.T) {
	s := NewStudent(emptyTable())
	logs := randomLogs(40, 11)
	for _, l := range logs {
		s.Apply(l)
	}
	v2, _ := s.AppendBinary(nil)
	// Version 1 is version 2 without the 8 bytes of recent_correct after
	// the whole-history counts.
	at := 2
	for range 2 {
		_, n := binary.Uvarint(v2[at:])
		at += n
	}
	v1 := append([]byte{studentEncodingV1}, v2[1:at]...)
	v1 = append(v1, v2[at+8:]...)
	read, err := ReadStudent(emptyTable(), v1)
	if err != nil {
		t.Fatal(err)
	}
	want, got := extendedFeatures(s, logs[0]), extendedFeatures(read, logs[0])
	want[NumExerciseFeatures+NumExtras] = float64(s.correct) / float64(s.attempts) // recent_correct
	if !slices.Equal(want, got) {
		t.Errorf("version 1 state: features %v; want %v", got, want)
	}
	for _, bad := range []float64{-0.5, 1.5, math.NaN()} {
		b := slices.Clone(v2)
		binary.LittleEndian.PutUint64(b[at:], math.Float64bits(bad))
		if _, err := ReadStudent(emptyTable(), b); err == nil {
			t.Errorf("a state with recent_correct %v read without error", bad)
		}
	}
}

// TestReadStudentOtherKeying reads a state under the other component
// keying: written keyed by problem type, it reads keyed by exercise exactly
// as the same attempts replayed so; written keyed by exercise, whose keys
// lack the problem types, it is ErrKeyingChanged.
func TestReadStudentOtherKeying(t *testing.T) {
	byType, byExercise := emptyTable(), emptyTable()
	byExercise.Keying = KeyByExercise
	logs := randomLogs(60, 7)
	replay := func(c *Components) *Student {
		s := NewStudent(c)
		for _, l := range logs {
			s.Apply(l)
		}
		return s
	}
	saved, _ := replay(byType).AppendBinary(nil)
	got, err := ReadStudent(byExercise, saved)
	if err != nil {
		t.Fatal(err)
	}
	want := replay(byExercise)
	var gx, wx [NumFeatures]float64
	for _, ex := range []string{logs[0].Exercise, logs[len(logs)-1].Exercise} {
		got.Features(ex, &gx)
		want.Features(ex, &wx)
		if gx != wx || !slices.Equal(got.Knowledge(), want.Knowledge()) {
			t.Errorf("%s: read keyed by exercise %v, replayed so %v", ex, gx, wx)
		}
	}
	saved, _ = want.AppendBinary(nil)
	if _, err := ReadStudent(byType, saved); !errors.Is(err, ErrKeyingChanged) {
		t.Errorf("a state keyed by exercise read keyed by problem type: %v, want ErrKeyingChanged", err)
	}
}
