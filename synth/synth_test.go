package synth

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// small returns a quick configuration for tests.
func small() Config {
	c := DefaultConfig()
	c.Students = 150
	c.Exercises = 10
	return c
}

func collect(t *testing.T, c Config) []features.ProblemLog {
	t.Helper()
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	var logs []features.ProblemLog
	st, err := g.Generate(func(l features.ProblemLog) error {
		logs = append(logs, l)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Logs != int64(len(logs)) || st.Students != c.Students {
		t.Fatalf("stats %+v, got %d logs of %d students", st, len(logs), c.Students)
	}
	return logs
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" for none
	}{
		{"default", func(*Config) {}, ""},
		{"no students", func(c *Config) { c.Students = 0 }, ""},
		{"negative students", func(c *Config) { c.Students = -1 }, "Students"},
		{"no exercises", func(c *Config) { c.Exercises = 0 }, "Exercises"},
		{"no problem types", func(c *Config) { c.ProblemTypes = 0 }, "ProblemTypes"},
		{"too few exercises per student", func(c *Config) { c.ExercisesPerStudent = 0.5 }, "ExercisesPerStudent"},
		{"NaN popularity", func(c *Config) { c.Popularity = math.NaN() }, "Popularity"},
		{"negative spread", func(c *Config) { c.CurriculumSpread = -1 }, "CurriculumSpread"},
		{"empty visits", func(c *Config) { c.MinVisitProblems = 0 }, "visit"},
		{"inverted visits", func(c *Config) { c.MinVisitProblems, c.MaxVisitProblems = 5, 4 }, "visit"},
		{"return probability", func(c *Config) { c.ReturnProbability = 1.5 }, "ReturnProbability"},
		{"abandon probability", func(c *Config) { c.AbandonProbability = -0.1 }, "AbandonProbability"},
		{"negative mastery", func(c *Config) { c.MasteryStreak = -1 }, "MasteryStreak"},
		{"no problems", func(c *Config) { c.MaxProblems = 0 }, "MaxProblems"},
		{"instant problems", func(c *Config) { c.ProblemTime = 0 }, "ProblemTime"},
		{"negative gap", func(c *Config) { c.VisitGap = -time.Second }, "VisitGap"},
		{"infinite knowledge", func(c *Config) { c.KnowledgeWeight = math.Inf(1) }, "KnowledgeWeight"},
		{"negative noise", func(c *Config) { c.KnowledgeNoise = -1 }, "KnowledgeNoise"},
		{"negative shuffle", func(c *Config) { c.Shuffle = -1 }, "Shuffle"},
		{"no start", func(c *Config) { c.Start = time.Time{} }, "Start"},
		{"start before 1677", func(c *Config) { c.Start = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }, "want times in"},
		{"span past 2262", func(c *Config) { c.Start = time.Date(2262, 4, 1, 0, 0, 0, 0, time.UTC) }, "want times in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error about %s", err, tt.want)
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

// TestSteepPopularity generates students whose exercise weights are too
// skewed for float64 (all but the first below 2^-53 of the total): drawing
// with redraws would never find a second exercise.
func TestSteepPopularity(t *testing.T) {
	c := DefaultConfig()
	c.Students, c.Popularity = 20, 60
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Generate(func(features.ProblemLog) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestTimesLeavingRange generates a population whose visits run past 2262:
// the student whose time_done would leave features.TimeRange is an error,
// not logs every reader counts bad.
func TestTimesLeavingRange(t *testing.T) {
	c := DefaultConfig()
	c.Students, c.Start, c.Span = 50, time.Date(2262, 4, 1, 0, 0, 0, 0, time.UTC), 24*time.Hour
	c.VisitGap = 30 * 24 * time.Hour
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Generate(func(l features.ProblemLog) error {
		if !features.TimeInRange(l.TimeDone) {
			t.Fatalf("emitted %v, outside %s", l.TimeDone, features.TimeRange)
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "is outside") {
		t.Errorf("Generate: %v, want an error naming the time outside the range", err)
	}
}

// TestLogInvariants checks what every reader relies on: per student,
// strictly increasing UTC times at microsecond resolution; per student and
// exercise, problem numbers 1, 2, 3, ... in time order; known exercises and
// problem types.
func TestLogInvariants(t *testing.T) {
	for _, tt := range []struct {
		name   string
		modify func(*Config)
	}{
		{"default", func(*Config) {}},
		{"one exercise", func(c *Config) { c.Exercises, c.ExercisesPerStudent = 1, 1 }},
		{"no mastery, long visits", func(c *Config) { c.MasteryStreak, c.MinVisitProblems, c.MaxVisitProblems = 0, 20, 30 }},
		{"all exercises, interleaved", func(c *Config) { c.ExercisesPerStudent, c.ReturnProbability = 20, 0.9 }},
		{"shuffled", func(c *Config) { c.Shuffle = 500 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := small()
			tt.modify(&c)
			logs := collect(t, c)
			if len(logs) == 0 {
				t.Fatal("no logs")
			}
			exercises := map[string]bool{}
			for i := 0; i < c.Exercises; i++ {
				exercises[ExerciseName(i)] = true
			}
			byUser := map[string][]features.ProblemLog{}
			for _, l := range logs {
				if !exercises[l.Exercise] {
					t.Fatalf("unknown exercise %q", l.Exercise)
				}
				if !strings.HasPrefix(l.ProblemType, "pt") {
					t.Fatalf("problem type %q", l.ProblemType)
				}
				if l.TimeDone.Location() != time.UTC || l.TimeDone.Nanosecond()%1000 != 0 || l.TimeDone.Before(c.Start) {
					t.Fatalf("time_done %v: want UTC, whole microseconds, after %v", l.TimeDone, c.Start)
				}
				byUser[l.User] = append(byUser[l.User], l)
			}
			if len(byUser) != c.Students {
				t.Fatalf("%d users with logs, want %d", len(byUser), c.Students)
			}
			for user, ul := range byUser {
				if c.Shuffle == 0 {
					// Unshuffled logs of a student come in time order.
					if !slices.IsSortedFunc(ul, func(a, b features.ProblemLog) int { return a.TimeDone.Compare(b.TimeDone) }) {
						t.Fatalf("%s: logs not in time order", user)
					}
				}
				features.SortLogs(ul)
				for i := 1; i < len(ul); i++ {
					if !ul[i].TimeDone.After(ul[i-1].TimeDone) {
						t.Fatalf("%s: time_done %v then %v", user, ul[i-1].TimeDone, ul[i].TimeDone)
					}
				}
				if err := features.CheckSteps(ul); err != nil {
					t.Fatal(err)
				}
				first := map[string]int{}
				for _, l := range ul {
					if _, ok := first[l.Exercise]; !ok {
						first[l.Exercise] = l.ProblemNumber
					}
					if l.ProblemNumber > c.MaxProblems {
						t.Fatalf("%s: problem number %d > MaxProblems", user, l.ProblemNumber)
					}
				}
				for ex, n := range first {
					if n != 1 {
						t.Fatalf("%s: exercise %s starts at problem %d", user, ex, n)
					}
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	write := func(c Config, opts CSVOptions) []byte {
		g, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := g.WriteCSV(&b, opts); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	c := small()
	c.Shuffle = 300
	opts := CSVOptions{ExtraColumns: true, BadFraction: 0.05, Seed: 3}
	a, b := write(c, opts), write(c, opts)
	if !bytes.Equal(a, b) {
		t.Fatal("same config, different bytes")
	}
	c.Seed++
	if bytes.Equal(a, write(c, opts)) {
		t.Fatal("different seeds, same bytes")
	}
}

// TestStudentsIndependent checks that a student's logs depend only on the
// seed and the student's index, so that ranges of students concatenate.
func TestStudentsIndependent(t *testing.T) {
	c := small()
	all := collect(t, c)

	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	var parts []features.ProblemLog
	for _, r := range [][2]int{{0, 40}, {40, 41}, {41, c.Students}} {
		if _, err := g.GenerateStudents(r[0], r[1], func(l features.ProblemLog) error {
			parts = append(parts, l)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(all, parts) {
		t.Fatal("ranges of students differ from the whole run")
	}

	c.Students = 60
	prefix := collect(t, c)
	if !slices.Equal(prefix, all[:len(prefix)]) {
		t.Fatal("the first 60 students depend on how many follow")
	}
	if _, err := g.GenerateStudents(10, c.Students+1000, nil); err == nil {
		t.Fatal("GenerateStudents accepted a range beyond Students")
	}
}

func TestShuffle(t *testing.T) {
	c := small()
	plain := collect(t, c)
	c.Shuffle = 1000
	shuffled := collect(t, c)
	if slices.Equal(plain, shuffled) {
		t.Fatal("Shuffle did not change the order")
	}
	key := func(a, b features.ProblemLog) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return a.TimeDone.Compare(b.TimeDone)
	}
	slices.SortFunc(plain, key)
	slices.SortFunc(shuffled, key)
	if !slices.Equal(plain, shuffled) {
		t.Fatal("shuffled logs are not a permutation of the logs")
	}
}

func TestEmitError(t *testing.T) {
	g, err := New(small())
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	st, err := g.Generate(func(features.ProblemLog) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 || st.Logs != 9 {
		t.Fatalf("Generate = %+v, %v after %d calls; want the callback's error at the 10th log", st, err, n)
	}
}

// TestAnswersFollowModel replays the logs as training does and checks that
// the answers are calibrated against the planted probabilities, overall
// and by decile of probability, within 4.5 standard errors.
func TestAnswersFollowModel(t *testing.T) {
	c := DefaultConfig()
	c.Students = 400
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	byUser := map[string][]features.ProblemLog{}
	if _, err := g.Generate(func(l features.ProblemLog) error {
		byUser[l.User] = append(byUser[l.User], l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	comps, _ := features.NewComponents(nil)
	var sumY, sumP, sumV [11]float64 // by decile of p; [10] is overall
	var n int
	for _, logs := range byUser {
		if err := features.Replay(logs, comps, features.ReplayOptions{Window: features.AllProblems}, func(r *features.Row) {
			p := g.Probability(r.Exercise, &r.X)
			y := 0.0
			if r.Correct {
				y = 1
			}
			for _, b := range []int{min(int(p*10), 9), 10} {
				sumY[b] += y
				sumP[b] += p
				sumV[b] += p * (1 - p)
			}
			n++
		}); err != nil {
			t.Fatal(err)
		}
	}
	for b := range sumY {
		if sumV[b] < 10 {
			continue
		}
		if z := (sumY[b] - sumP[b]) / math.Sqrt(sumV[b]); math.Abs(z) > 4.5 {
			t.Errorf("bin %d: %.0f correct, %.1f expected: z = %.2f", b, sumY[b], sumP[b], z)
		}
	}
	if rate := sumY[10] / float64(n); rate < 0.55 || rate > 0.8 {
		t.Errorf("%.3f of %d answers correct; want a realistic 0.55-0.8", rate, n)
	}
}

// TestPlantedThetas checks the structure of the planted thetas.
func TestPlantedThetas(t *testing.T) {
	c := DefaultConfig()
	g, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	comps, _ := features.NewComponents(nil)
	thetas := g.Thetas()
	if len(thetas) != c.Exercises {
		t.Fatalf("%d thetas, want %d", len(thetas), c.Exercises)
	}
	for i, th := range thetas {
		if th.Version != PlantedVersion || th.Exercise != ExerciseName(i) || len(th.Thetas) != features.NumFeatures {
			t.Fatalf("record %d: %q %q with %d thetas", i, th.Version, th.Exercise, len(th.Thetas))
		}
		// A newcomer with an empty KnowledgeState.
		var x [features.NumFeatures]float64
		features.NewStudent(comps).Features(th.Exercise, &x)
		if p := g.Probability(th.Exercise, &x); p < firstCorrectMin-1e-9 || p > firstCorrectMax+1e-9 {
			t.Errorf("%s: first attempt correct with probability %.3f", th.Exercise, p)
		}
		for k, name := range []string{"ewma_3", "ewma_10", "current_streak", "log_num_done", "percent_correct"} {
			j := slices.Index(features.FeatureNames, name)
			if th.Thetas[j] <= 0 {
				t.Errorf("%s: θ[%s] = %v, want positive (%d)", th.Exercise, name, th.Thetas[j], k)
			}
		}
		if j := slices.Index(features.FeatureNames, "log_num_missed"); th.Thetas[j] >= 0 {
			t.Errorf("%s: θ[log_num_missed] = %v, want negative", th.Exercise, th.Thetas[j])
		}
		ks := th.Thetas[1+features.NumExerciseFeatures:]
		norm := math.Sqrt(floats.Dot(ks, ks))
		if rms := norm / math.Sqrt(features.KnowledgeDim); rms > 0.2 {
			t.Fatalf("%s: KnowledgeState thetas have RMS %.3f, want small", th.Exercise, rms)
		}
		// A correct rather than wrong first answer on a prerequisite shifts
		// the logit by KnowledgeWeight×[0.5, 1.5]; on another exercise, by
		// nothing but the cross-talk of random components: θ·(c_true −
		// c_false), averaged over the problem types, is then about normal
		// with standard deviation |θ|·sqrt(2/(100·ProblemTypes)).
		sd := norm * math.Sqrt(2/float64(features.KnowledgeDim*c.ProblemTypes))
		for j := 0; j < c.Exercises; j++ {
			shift := 0.0
			for pt := 0; pt < c.ProblemTypes; pt++ {
				right := comps.Vector(features.ComponentKey{Exercise: ExerciseName(j), ProblemType: ProblemTypeName(pt), Correct: true})
				wrong := comps.Vector(features.ComponentKey{Exercise: ExerciseName(j), ProblemType: ProblemTypeName(pt), Correct: false})
				for d := range ks {
					shift += ks[d] * (right[d] - wrong[d]) / float64(c.ProblemTypes)
				}
			}
			lo, hi := -4.5*sd, 4.5*sd
			if j < i && j >= i-c.Prerequisites {
				lo, hi = 0.5*c.KnowledgeWeight-4.5*sd, 1.5*c.KnowledgeWeight+4.5*sd
			}
			if shift < lo || shift > hi {
				t.Errorf("%s: first answer on %s shifts the logit by %.3f, want %.2f-%.2f", th.Exercise, ExerciseName(j), shift, lo, hi)
			}
		}
	}
}

// TestCSVRoundTrip writes logs as CSV, with and without extra columns and
// malformed lines, and reads them back with problemlogs: the good lines give
// exactly the logs, the malformed ones the reasons their kinds promise.
func TestCSVRoundTrip(t *testing.T) {
	reason := [NumBadKinds]string{
		BadMissingField:  problemlogs.ReasonMissing,
		BadColumns:       problemlogs.ReasonColumns,
		BadTime:          problemlogs.ReasonTime,
		BadProblemNumber: problemlogs.ReasonProblemNumber,
		BadCorrect:       problemlogs.ReasonCorrect,
	}
	logs := collect(t, small())
	for _, tt := range []struct {
		name string
		opts CSVOptions
	}{
		{"plain", CSVOptions{}},
		{"extra columns", CSVOptions{ExtraColumns: true}},
		{"bad lines", CSVOptions{BadFraction: 0.1, Seed: 5}},
		{"extra columns and bad lines", CSVOptions{ExtraColumns: true, BadFraction: 0.2, Seed: 6}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w, err := NewCSVWriter(&b, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range logs {
				if err := w.Write(l); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			st := w.Stats()

			sc := bufio.NewScanner(&b)
			sc.Scan()
			header := sc.Text()
			if want := map[bool]string{false: Header, true: ExtraHeader}[tt.opts.ExtraColumns]; header != want {
				t.Fatalf("header %q, want %q", header, want)
			}
			p, err := problemlogs.NewCSVParser([]byte(header), problemlogs.DefaultColumns)
			if err != nil {
				t.Fatal(err)
			}
			var got []features.ProblemLog
			reasons := map[string]int64{}
			for sc.Scan() {
				l, err := p.Parse(sc.Bytes())
				var re *problemlogs.RowError
				switch {
				case err == nil:
					got = append(got, l)
				case errors.As(err, &re):
					reasons[re.Reason]++
				default:
					t.Fatal(err)
				}
			}
			if !slices.EqualFunc(got, logs, func(a, b features.ProblemLog) bool {
				return a.User == b.User && a.TimeDone.Equal(b.TimeDone) && a.Exercise == b.Exercise &&
					a.ProblemType == b.ProblemType && a.ProblemNumber == b.ProblemNumber && a.Correct == b.Correct
			}) {
				t.Fatalf("read back %d logs that differ from the %d written", len(got), len(logs))
			}
			if st.Logs != int64(len(logs)) {
				t.Fatalf("stats count %d logs, wrote %d", st.Logs, len(logs))
			}
			want := map[string]int64{}
			for k, n := range st.Bad {
				if n > 0 {
					want[reason[k]] += n
				}
			}
			if len(reasons) != len(want) {
				t.Fatalf("bad lines by reason %v, want %v", reasons, want)
			}
			for r, n := range want {
				if reasons[r] != n {
					t.Fatalf("bad lines by reason %v, want %v", reasons, want)
				}
			}
			if f := tt.opts.BadFraction; f > 0 {
				exp := f * float64(len(logs))
				if n := float64(st.BadLines()); math.Abs(n-exp) > 5*math.Sqrt(exp) {
					t.Fatalf("%v bad lines, want about %.0f", n, exp)
				}
				for k, n := range st.Bad {
					if n == 0 {
						t.Errorf("no malformed line of kind %v", BadKind(k))
					}
				}
			}
		})
	}
}

func TestCSVFormat(t *testing.T) {
	l := features.ProblemLog{
		User:          `odd, "user"`,
		TimeDone:      time.Date(2014, 1, 5, 18, 27, 50, 998506000, time.FixedZone("EST", -5*3600)),
		Exercise:      "fractions_1",
		ProblemType:   "pt0",
		ProblemNumber: 12,
		Correct:       true,
	}
	var b bytes.Buffer
	w, _ := NewCSVWriter(&b, CSVOptions{})
	w.Write(l)
	w.Flush()
	want := Header + "\n" + `"odd, ""user""",2014-01-05T23:27:50.998506Z,fractions_1,pt0,12,true` + "\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	if _, err := NewCSVWriter(&b, CSVOptions{BadFraction: 2}); err == nil {
		t.Fatal("NewCSVWriter accepted BadFraction 2")
	}
}

// TestDefaultWindowRows checks the promise of DefaultConfig: with Khan's
// sampling window of problem numbers 1-5, at least 25 of its 30 exercises
// have 300 rows or more. Every log in the window is a row, since generated
// students never have gaps.
func TestDefaultWindowRows(t *testing.T) {
	c := DefaultConfig()
	rows := map[string]int{}
	var total int
	for _, l := range collect(t, c) {
		total++
		if features.DefaultWindow.Contains(l.ProblemNumber) {
			rows[l.Exercise]++
		}
	}
	enough := 0
	for _, n := range rows {
		if n >= 300 {
			enough++
		}
	}
	if enough < 25 || total < 50000 || total > 70000 {
		t.Fatalf("%d logs; %d exercises with >= 300 rows in 1-5: %v", total, enough, rows)
	}
}

func TestEstimateStudents(t *testing.T) {
	c := DefaultConfig()
	for _, target := range []int64{5000, 60000} {
		n, err := EstimateStudents(c, target)
		if err != nil {
			t.Fatal(err)
		}
		c.Students = n
		got := int64(len(collect(t, c)))
		if math.Abs(float64(got-target)) > 0.1*float64(target) {
			t.Errorf("EstimateStudents(%d) = %d students, who produce %d logs", target, n, got)
		}
	}
	if _, err := EstimateStudents(c, 0); err == nil {
		t.Error("EstimateStudents accepted 0 logs")
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ExerciseName(0), "addition_1"},
		{ExerciseName(len(topics)), "addition_2"},
		{ProblemTypeName(3), "pt3"},
		{UserName(42), "student_0000042"},
		{UserName(123456789), "student_123456789"},
		{BadTime.String(), "bad time"},
		{BadKind(99).String(), "BadKind(99)"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		if seen[ExerciseName(i)] {
			t.Fatalf("exercise name %q repeats", ExerciseName(i))
		}
		seen[ExerciseName(i)] = true
	}
}
