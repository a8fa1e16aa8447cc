package evaluate_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/evaluate"
)

// bruteAUC counts every (positive, negative) pair.
func bruteAUC(scores []float64, labels []bool) float64 {
	var wins float64
	var pos, neg int
	for i := range scores {
		if !labels[i] {
			neg++
			continue
		}
		pos++
		for j := range scores {
			switch {
			case labels[j]:
			case scores[i] > scores[j]:
				wins++
			case scores[i] == scores[j]:
				wins += 0.5
			}
		}
	}
	return wins / float64(pos) / float64(neg)
}

func TestAUCBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + r.IntN(300)
		round := []float64{0.1, 0.01, 0}[trial%3] // many ties, some, none
		scores := make([]float64, n)
		labels := make([]bool, n)
		for i := range scores {
			p := r.Float64()
			if round > 0 {
				p = math.Round(p/round) * round
			}
			scores[i] = p
			labels[i] = r.Float64() < p
		}
		got, want := evaluate.AUC(scores, labels), bruteAUC(scores, labels)
		if math.IsNaN(want) != math.IsNaN(got) || math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d (n %d): AUC %v, brute force %v", trial, n, got, want)
		}
	}
}

func TestAUC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   float64 // NaN: undefined
	}{
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{"inverted", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []bool{false, true, false, true}, 0.5},
		{"one tie", []float64{0.2, 0.5, 0.5, 0.9}, []bool{false, false, true, true}, 0.875},
		{"outside [0, 1]", []float64{-3, 7}, []bool{false, true}, 1},
		{"all correct", []float64{0.1, 0.9}, []bool{true, true}, math.NaN()},
		{"all wrong", []float64{0.1, 0.9}, []bool{false, false}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
	} {
		got := evaluate.AUC(tc.scores, tc.labels)
		if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("%s: AUC %v, want %v", tc.name, got, tc.want)
		}
	}
}

func add(t testing.TB, a *evaluate.Accumulator, ats ...evaluate.Attempt) {
	t.Helper()
	for _, at := range ats {
		if err := a.Add(at); err != nil {
			t.Fatal(err)
		}
	}
}

func at(exercise string, correct bool, p float64, baselines ...float64) evaluate.Attempt {
	return evaluate.Attempt{Exercise: exercise, Correct: correct, P: p, HasP: true, Baselines: baselines}
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s undefined, want %v", what, want)
	} else if math.Abs(*got-want) > 1e-12 {
		t.Errorf("%s = %v, want %v", what, *got, want)
	}
}

func TestMetricsByHand(t *testing.T) {
	a := evaluate.NewAccumulator()
	add(t, a,
		at("x", true, 0.8),  // ln 0.8, right
		at("x", false, 0.5), // ln 0.5, wrong: 0.5 predicts correct
		at("x", true, 0.5),  // ln 0.5, right
		at("x", false, 0.2), // ln 0.8, right
		at("x", true, 0),    // ln 1e-15 (clamped), wrong
		at("x", false, 1),   // ln(1e-15) (clamped), wrong
	)
	m := a.Report().Overall
	if m.Attempts != 6 || m.Correct != 3 {
		t.Errorf("attempts %d, correct %d; want 6, 3", m.Attempts, m.Correct)
	}
	// The clamp bounds are float64s: 1 - (1-1e-15) is 9.992007221626409e-16.
	near(t, "log-likelihood", m.LogLikelihood, (2*math.Log(0.8)+2*math.Log(0.5)+math.Log(1e-15)+math.Log(9.992007221626409e-16))/6)
	near(t, "accuracy", m.Accuracy, 3.0/6)
	// Correct p: 0.8, 0.5, 0; wrong p: 0.5, 0.2, 1. Wins of 0.8: 2; of 0.5: 1 + ½; of 0: 0.
	near(t, "AUC", m.AUC, 3.5/9)
	eps := float64(evaluate.Epsilon)
	near(t, "log-likelihood (Epsilon)", m.LogLikelihood, (2*math.Log(0.8)+2*math.Log(0.5)+math.Log(eps)+math.Log(1-(1-eps)))/6)
}

func TestCalibration(t *testing.T) {
	below := func(p float64) float64 { return math.Nextafter(p, 0) }
	for _, tc := range []struct {
		p   float64
		bin int
	}{
		{0, 0}, {below(0.1), 0}, {0.1, 1}, {0.15, 1}, {below(0.3), 2}, {0.3, 3},
		{0.5, 5}, {0.7, 7}, {below(0.9), 8}, {0.9, 9}, {below(1), 9}, {1, 9},
	} {
		a := evaluate.NewAccumulator()
		add(t, a, at("x", true, tc.p), at("x", false, tc.p))
		cal := a.Report().Overall.Calibration
		if len(cal) != 10 {
			t.Fatalf("%d bins", len(cal))
		}
		for i, b := range cal {
			if b.Lower != float64(i)/10 || b.Upper != float64(i+1)/10 {
				t.Errorf("bin %d is [%v, %v)", i, b.Lower, b.Upper)
			}
			if i != tc.bin {
				if b.Attempts != 0 || b.MeanPredicted != nil || b.ObservedRate != nil {
					t.Errorf("p %v: bin %d not empty: %+v", tc.p, i, b)
				}
				continue
			}
			if b.Attempts != 2 || *b.MeanPredicted != tc.p || *b.ObservedRate != 0.5 {
				t.Errorf("p %v: bin %d = %d attempts, mean %v, observed %v", tc.p, i, b.Attempts, *b.MeanPredicted, *b.ObservedRate)
			}
		}
	}
	// Every edge starts its bin.
	for i := 1; i < 10; i++ {
		a := evaluate.NewAccumulator()
		add(t, a, at("x", true, float64(i)/10), at("x", true, below(float64(i)/10)))
		cal := a.Report().Overall.Calibration
		if cal[i].Attempts != 1 || cal[i-1].Attempts != 1 {
			t.Errorf("edge %d/10 not at the start of bin %d", i, i)
		}
	}
	// Mean predicted and observed rate within a bin.
	a := evaluate.NewAccumulator()
	add(t, a, at("x", true, 0.61), at("x", false, 0.65), at("x", true, 0.69), at("x", true, 0.2))
	b := a.Report().Overall.Calibration[6]
	if b.Attempts != 3 || math.Abs(*b.MeanPredicted-0.65) > 1e-15 || *b.ObservedRate != 2.0/3 {
		t.Errorf("bin 6 = %d attempts, mean %v, observed %v", b.Attempts, *b.MeanPredicted, *b.ObservedRate)
	}
}

func TestWeightedUnweighted(t *testing.T) {
	a := evaluate.NewAccumulator()
	// "a": 1 attempt, right with p = 0.9; AUC undefined.
	add(t, a, at("a", true, 0.9))
	// "b": 3 attempts; AUC 1, accuracy 2/3.
	add(t, a, at("b", true, 0.6), at("b", false, 0.5), at("b", false, 0.1))
	r := a.Report()
	ll := func(p float64) float64 { return math.Log(p) }
	llB := (ll(0.6) + ll(0.5) + ll(0.9)) / 3
	near(t, "overall LL", r.Overall.LogLikelihood, (ll(0.9)+3*llB)/4)
	near(t, "overall accuracy", r.Overall.Accuracy, 3.0/4)
	// Pooled: correct 0.9, 0.6; wrong 0.5, 0.1: perfect.
	near(t, "overall AUC", r.Overall.AUC, 1)
	u := r.Unweighted
	if u.Exercises != 2 || u.AUCExercises != 1 {
		t.Errorf("unweighted over %d exercises, AUC over %d; want 2, 1", u.Exercises, u.AUCExercises)
	}
	near(t, "unweighted LL", u.LogLikelihood, (ll(0.9)+llB)/2)
	near(t, "unweighted accuracy", u.Accuracy, (1+2.0/3)/2)
	near(t, "unweighted AUC", u.AUC, 1)
	if len(r.Exercises) != 2 || r.Exercises[0].Exercise != "a" || r.Exercises[1].Exercise != "b" {
		t.Fatalf("exercises %+v", r.Exercises)
	}
	if r.Exercises[0].AUC != nil {
		t.Errorf("one-class AUC = %v, want undefined", *r.Exercises[0].AUC)
	}
	near(t, "b accuracy", r.Exercises[1].Accuracy, 2.0/3)
}

func TestNoThetasAndBaselines(t *testing.T) {
	a := evaluate.NewAccumulator("correct_rate", "no_knowledge")
	nan := math.NaN()
	add(t, a,
		at("x", true, 0.9, 0.7, 0.6),
		at("x", false, 0.2, 0.7, nan), // no_knowledge absent
		at("x", true, 0.8),            // both absent
		at("y", true, 0.4, 0.5),       // no_knowledge absent (short slice)
		evaluate.Attempt{Exercise: "z", Correct: true, Baselines: []float64{0.5, 0.5}}, // no thetas
		evaluate.Attempt{Exercise: "z", Correct: false},
		evaluate.Attempt{Exercise: "w"},
	)
	r := a.Report()
	if r.Overall.Attempts != 4 {
		t.Errorf("model scored %d, want 4", r.Overall.Attempts)
	}
	wantNo := evaluate.NoThetas{Attempts: 3, Exercises: []evaluate.ExerciseCount{{"w", 1}, {"z", 2}}}
	if !reflect.DeepEqual(r.NoThetas, wantNo) {
		t.Errorf("no thetas %+v, want %+v", r.NoThetas, wantNo)
	}
	if len(r.Exercises) != 2 {
		t.Errorf("model exercises %+v", r.Exercises)
	}
	cr, nk := r.Baselines["correct_rate"], r.Baselines["no_knowledge"]
	if cr.Overall.Attempts != 3 || nk.Overall.Attempts != 1 || len(r.Baselines) != 2 {
		t.Errorf("baselines scored %d, %d; want 3, 1", cr.Overall.Attempts, nk.Overall.Attempts)
	}
	near(t, "correct_rate LL", cr.Overall.LogLikelihood, (math.Log(0.7)+math.Log(0.3)+math.Log(0.5))/3)
	// Pooled: correct 0.7, 0.5; wrong 0.7: ½ + 0. Per exercise: x tied (½), y one-class.
	near(t, "correct_rate AUC", cr.Overall.AUC, 0.25)
	near(t, "correct_rate unweighted AUC", cr.Unweighted.AUC, 0.5)
	if len(nk.Exercises) != 1 || nk.Exercises[0].Exercise != "x" || nk.Unweighted.Exercises != 1 {
		t.Errorf("no_knowledge exercises %+v", nk.Exercises)
	}
}

func TestAddErrors(t *testing.T) {
	a := evaluate.NewAccumulator("b")
	for _, bad := range []evaluate.Attempt{
		at("x", true, 1.5),
		at("x", true, -0.1),
		at("x", true, math.NaN()),
		at("x", true, math.Inf(1)),
		at("x", true, 0.5, 2),
		at("x", true, 0.5, 0.5, 0.5),
		{Exercise: "x", Baselines: []float64{-1}},
	} {
		if err := a.Add(bad); err == nil {
			t.Errorf("Add(%+v) accepted", bad)
		}
	}
	r := a.Report()
	if r.Overall.Attempts != 0 || r.NoThetas.Attempts != 0 || r.Overall.LogLikelihood != nil || len(r.Exercises) != 0 {
		t.Errorf("rejected attempts counted: %+v", r)
	}
}

// randomAttempts makes attempts over a few exercises: the model's p
// continuous (or missing), one baseline rounded (ties), one often absent.
func randomAttempts(r *rand.Rand, n int) []evaluate.Attempt {
	ats := make([]evaluate.Attempt, n)
	for i := range ats {
		ex := string(rune('a' + r.IntN(6)))
		p := r.Float64()
		nk := math.Round(p*20) / 20
		if r.IntN(3) == 0 {
			nk = math.NaN()
		}
		ats[i] = evaluate.Attempt{
			Exercise:  ex,
			Correct:   r.Float64() < p,
			P:         p,
			HasP:      ex != "f",
			Baselines: []float64{0.1 * float64(1+ex[0]-'a'), nk},
		}
		if r.IntN(50) == 0 {
			ats[i].P = math.Round(p*10) / 10 // some model ties
		}
	}
	return ats
}

func TestMergeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ats := randomAttempts(r, 5000)
	names := []string{"correct_rate", "no_knowledge"}

	whole := evaluate.NewAccumulator(names...)
	add(t, whole, ats...)
	want := whole.Report()
	wantBytes, _ := whole.MarshalBinary()

	for trial := range 20 {
		// Split into parts of random sizes, in a shuffled order.
		perm := r.Perm(len(ats))
		parts := make([]*evaluate.Accumulator, 1+r.IntN(8))
		for i := range parts {
			parts[i] = evaluate.NewAccumulator(names...)
		}
		for _, i := range perm {
			add(t, parts[r.IntN(len(parts))], ats[i])
		}
		// Round trip some parts through bytes, then merge in a random tree.
		for i, p := range parts {
			if r.IntN(2) == 0 {
				b, err := p.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				parts[i] = new(evaluate.Accumulator)
				if err := parts[i].UnmarshalBinary(b); err != nil {
					t.Fatal(err)
				}
			}
		}
		for len(parts) > 1 {
			i := r.IntN(len(parts))
			j := (i + 1 + r.IntN(len(parts)-1)) % len(parts)
			if err := parts[i].Merge(parts[j]); err != nil {
				t.Fatal(err)
			}
			parts = append(parts[:j], parts[j+1:]...)
		}
		got := parts[0].Report()
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			t.Fatalf("trial %d: merged report differs:\n%s\nwant\n%s", trial, gj, wj)
		}
		if b, _ := parts[0].MarshalBinary(); !bytes.Equal(b, wantBytes) {
			t.Fatalf("trial %d: merged encoding differs", trial)
		}
	}
}

func TestMergeSelf(t *testing.T) {
	ats := randomAttempts(rand.New(rand.NewPCG(5, 6)), 1000)
	once := evaluate.NewAccumulator("c", "n")
	twice := evaluate.NewAccumulator("c", "n")
	half := evaluate.NewAccumulator("c", "n")
	add(t, once, ats[:300]...)
	once.Report() // flushes: runs
	add(t, once, ats[300:500]...)
	add(t, half, ats[500:]...)
	half.Report()                            // flushes: its runs are merged into once, not combined yet
	if err := once.Merge(half); err != nil { // leaves runs, merged runs and pending attempts
		t.Fatal(err)
	}
	add(t, twice, ats...)
	add(t, twice, ats...)
	if err := once.Merge(once); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(once.Report(), twice.Report()) {
		t.Error("a.Merge(a) is not adding everything twice")
	}
	if err := once.Merge(evaluate.NewAccumulator("n", "c")); err == nil {
		t.Error("merged accumulators with different baselines")
	}
}

func TestJSON(t *testing.T) {
	a := evaluate.NewAccumulator("correct_rate")
	add(t, a, at("all_right", true, 0.7, 0.5), at("mixed", true, 0.6, 0.5), at("mixed", false, 0.3))
	add(t, a, evaluate.Attempt{Exercise: "new", Correct: true})
	r := a.Report()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "NaN") || !strings.Contains(s, `"auc":null`) {
		t.Errorf("JSON %s", s)
	}
	var back evaluate.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip differs:\n%+v\nwant\n%+v", back, r)
	}
	// An empty accumulator reports too.
	if _, err := json.Marshal(new(evaluate.Accumulator).Report()); err != nil {
		t.Error(err)
	}
}

func TestUnmarshalErrors(t *testing.T) {
	a := evaluate.NewAccumulator("b")
	add(t, a, at("x", true, 0.25, 0.5), at("x", false, 0.75))
	good, _ := a.MarshalBinary()
	var b evaluate.Accumulator
	if err := b.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	for i := range len(good) {
		if err := b.UnmarshalBinary(good[:i]); err == nil {
			t.Errorf("truncated to %d bytes: accepted", i)
		}
	}
	if err := b.UnmarshalBinary(append(good, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	// Corrupting any byte either fails or decodes to something valid.
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0xff
		var c evaluate.Accumulator
		if c.UnmarshalBinary(bad) == nil {
			c.Report()
		}
	}
}

// TestUnmarshalNaNPrediction decodes a run whose prediction bits are a
// NaN: an error, where it once hung in compactSorted (NaN != NaN).
func TestUnmarshalNaNPrediction(t *testing.T) {
	b := []byte("kmev\x02")
	for _, v := range []uint64{0, 1, 1} { // no baselines; one key; a name of 1 byte
		b = binary.AppendUvarint(b, v)
	}
	b = append(b, 'x')
	for _, v := range []uint64{0, 0, 1, math.Float64bits(math.NaN()), 1, 0} { // segment, no thetas, one run: p, correct, wrong
		b = binary.AppendUvarint(b, v)
	}
	var a evaluate.Accumulator
	if err := a.UnmarshalBinary(b); err == nil {
		t.Error("a NaN prediction was accepted")
	}
}

// TestUnmarshalManyBaselines decodes 50,000 baseline names: the check for a
// name given twice is linear, so corrupt input cannot stall a worker.
func TestUnmarshalManyBaselines(t *testing.T) {
	const n = 50000
	b := binary.AppendUvarint([]byte("kmev\x02"), n)
	for i := range n {
		s := strconv.Itoa(100000 + i)
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, 0) // no exercises
	var a evaluate.Accumulator
	if err := a.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got := len(a.Baselines()); got != n {
		t.Errorf("%d baselines, want %d", got, n)
	}
}

func TestComparison(t *testing.T) {
	var c evaluate.Comparer
	if c.Comparison().Passes(1) {
		t.Error("nothing compared passes")
	}
	for _, x := range []struct {
		correct  bool
		pNew, pC float64
	}{
		{true, 0.8, 0.6}, {false, 0.3, 0.5}, {true, 0.9, math.NaN()}, {false, math.NaN(), math.NaN()},
	} {
		if err := c.Add(x.correct, x.pNew, x.pC); err != nil {
			t.Fatal(err)
		}
	}
	if c.Add(true, 1.1, 0.5) == nil || c.Add(true, 0.5, -1) == nil {
		t.Error("predictions outside [0, 1] accepted")
	}
	got := c.Comparison()
	newLL, curLL := (math.Log(0.8)+math.Log(0.7))/2, (math.Log(0.6)+math.Log(0.5))/2
	if got.Attempts != 2 || got.Skipped != 2 || math.Abs(got.New-newLL) > 1e-15 || math.Abs(got.Current-curLL) > 1e-15 ||
		math.Abs(got.Delta-(newLL-curLL)) > 1e-15 {
		t.Errorf("comparison %+v, want new %v, current %v", got, newLL, curLL)
	}
	for _, tc := range []struct {
		c             evaluate.Comparison
		maxRegression float64
		want          bool
	}{
		{evaluate.Comparison{Attempts: 1, New: -0.5, Current: -0.6}, 0, true},
		{evaluate.Comparison{Attempts: 1, New: -0.6, Current: -0.6}, 0, true},
		{evaluate.Comparison{Attempts: 1, New: -0.61, Current: -0.6}, 0, false},
		{evaluate.Comparison{Attempts: 1, New: -0.61, Current: -0.6}, 0.02, true},
		{evaluate.Comparison{Attempts: 1, New: -0.59, Current: -0.6}, -0.02, false},
		{evaluate.Comparison{Attempts: 1, New: -0.5, Current: -0.6}, math.NaN(), false},
		{evaluate.Comparison{Attempts: 0}, 0, false},
	} {
		if got := tc.c.Passes(tc.maxRegression); got != tc.want {
			t.Errorf("%+v.Passes(%v) = %v, want %v", tc.c, tc.maxRegression, got, tc.want)
		}
	}
}

func TestComparerMergeOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	type x struct {
		correct bool
		n, c    float64
	}
	xs := make([]x, 3000)
	for i := range xs {
		xs[i] = x{r.IntN(2) == 0, r.Float64(), r.Float64()}
		if r.IntN(10) == 0 {
			xs[i].c = math.NaN()
		}
	}
	var whole evaluate.Comparer
	var sum, count float64
	for _, v := range xs {
		whole.Add(v.correct, v.n, v.c)
		if !math.IsNaN(v.c) {
			p := v.n
			if !v.correct {
				p = 1 - p
			}
			sum += math.Log(max(p, 1e-15))
			count++
		}
	}
	want := whole.Comparison()
	if math.Abs(want.New-sum/count) > 1e-12 {
		t.Errorf("new LL %v, float sum %v", want.New, sum/count)
	}
	for range 10 {
		parts := make([]evaluate.Comparer, 1+r.IntN(5))
		for _, i := range r.Perm(len(xs)) {
			parts[r.IntN(len(parts))].Add(xs[i].correct, xs[i].n, xs[i].c)
		}
		var got evaluate.Comparer
		for _, i := range r.Perm(len(parts)) {
			b, _ := parts[i].MarshalBinary()
			var p evaluate.Comparer
			if err := p.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			got.Merge(&p)
		}
		if got.Comparison() != want {
			t.Fatalf("merged %+v, want %+v", got.Comparison(), want)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const exercises = 200
	names := make([]string, exercises)
	rates := make([]float64, exercises)
	for i := range names {
		names[i] = "exercise_" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		rates[i] = r.Float64()
	}
	ats := make([]evaluate.Attempt, 1<<16)
	for i := range ats {
		e := r.IntN(exercises)
		p := r.Float64()
		ats[i] = evaluate.Attempt{
			Exercise: names[e], Correct: r.Float64() < p, P: p, HasP: true,
			// correct_rate: one value per exercise; no_knowledge: ~100 values.
			Baselines: []float64{rates[e], math.Round(p*100) / 100},
		}
	}
	a := evaluate.NewAccumulator("correct_rate", "no_knowledge")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at := ats[i%len(ats)]
		at.P = r.Float64() // continuous: a new run nearly every time
		if err := a.Add(at); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReport(b *testing.B) {
	ats := randomAttempts(rand.New(rand.NewPCG(1, 1)), 100000)
	a := evaluate.NewAccumulator("c", "n")
	add(b, a, ats...)
	for b.Loop() {
		a.Report()
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	a := evaluate.NewAccumulator("c", "n")
	add(f, a, randomAttempts(rand.New(rand.NewPCG(11, 12)), 50)...)
	b, _ := a.MarshalBinary()
	f.Add(b)
	b, _ = new(evaluate.Accumulator).MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var a evaluate.Accumulator
		if a.UnmarshalBinary(data) != nil {
			return
		}
		// What decodes re-encodes canonically and reports.
		b, _ := a.MarshalBinary()
		var c evaluate.Accumulator
		if err := c.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if b2, _ := c.MarshalBinary(); !bytes.Equal(b, b2) {
			t.Fatal("encoding is not canonical")
		}
		if _, err := json.Marshal(c.Report()); err != nil {
			t.Fatal(err)
		}
	})
}
