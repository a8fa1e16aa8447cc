package synth

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
)

// PlantedVersion is the Version of the planted thetas' records.
const PlantedVersion = "planted"

// Random streams: each student draws from PCG(Seed, index), the thetas and
// the shuffle from streams no student index reaches.
const (
	streamThetas  = 1<<63 | 1
	streamShuffle = 1<<63 | 2
)

// Generator simulates the students of a Config. It holds the planted thetas
// and the table of random components the simulation used, which are those a
// replay derives with features.NewComponents(nil).
//
// A Generator is not safe for concurrent use.
type Generator struct {
	cfg     Config
	comps   *features.Components
	names   []string
	index   map[string]int // exercise name → index
	types   []string
	thetas  [][features.NumFeatures]float64
	cdf     []float64 // cumulative popularity weights, for picking exercises
	weights []float64

	// scratch, reused between students
	keys  []float64
	idx   []int
	slots []slot
	x     [features.NumFeatures]float64
}

// slot is one exercise a student has chosen.
type slot struct {
	ex       int
	order    float64 // curriculum position
	next     int     // next problem number
	streak   int     // trailing correct answers
	started  bool
	finished bool
}

// Stats counts what Generate produced.
type Stats struct {
	Students int
	Logs     int64
}

// New validates c and plants its thetas.
func New(c Config) (*Generator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	comps, err := features.NewComponents(nil)
	if err != nil {
		return nil, err
	}
	g := &Generator{cfg: c, comps: comps, index: make(map[string]int, c.Exercises)}
	for i := 0; i < c.Exercises; i++ {
		g.names = append(g.names, ExerciseName(i))
		g.index[g.names[i]] = i
	}
	for j := 0; j < c.ProblemTypes; j++ {
		g.types = append(g.types, ProblemTypeName(j))
	}
	g.thetas = plant(c, comps)
	total := 0.0
	for i := 0; i < c.Exercises; i++ {
		w := math.Pow(float64(i+1), -c.Popularity)
		g.weights = append(g.weights, w)
		total += w
		g.cdf = append(g.cdf, total)
	}
	return g, nil
}

// Config returns the generator's configuration.
func (g *Generator) Config() Config { return g.cfg }

// Exercises returns the names of the exercises, in index order.
func (g *Generator) Exercises() []string { return slices.Clone(g.names) }

// Thetas returns the planted thetas of every exercise, in index order, as
// records of version PlantedVersion.
func (g *Generator) Thetas() []model.ExerciseThetas {
	out := make([]model.ExerciseThetas, len(g.thetas))
	for i := range g.thetas {
		out[i] = model.ExerciseThetas{
			Version:  PlantedVersion,
			Exercise: g.names[i],
			Thetas:   slices.Clone(g.thetas[i][:]),
		}
	}
	return out
}

// Probability returns the planted probability that an attempt at exercise
// with features x is correct: sigmoid(θ·x). It panics for an unknown
// exercise.
func (g *Generator) Probability(exercise string, x *[features.NumFeatures]float64) float64 {
	i, ok := g.index[exercise]
	if !ok {
		panic(fmt.Sprintf("synth: unknown exercise %q", exercise))
	}
	return sigmoid(dot(&g.thetas[i], x))
}

// UserName returns the name of student i, such as "student_0000042": at
// least seven digits, so that names of up to 10 million students sort like
// their numbers.
func UserName(i int) string {
	return "student_" + pad(strconv.Itoa(i), 7)
}

// Generate simulates every student and passes each log to emit. Unless
// Config.Shuffle is set, each student's logs come in time order, student
// after student. An error from emit stops the generation and is returned.
func (g *Generator) Generate(emit func(features.ProblemLog) error) (Stats, error) {
	return g.GenerateStudents(0, g.cfg.Students, emit)
}

// GenerateStudents simulates students from (inclusive) to to (exclusive),
// as Generate does. A student's logs do not depend on which other students
// are generated, so runs over disjoint ranges can be concatenated or
// produced in parallel by separate Generators.
func (g *Generator) GenerateStudents(from, to int, emit func(features.ProblemLog) error) (Stats, error) {
	if from < 0 || to > g.cfg.Students || from > to {
		return Stats{}, fmt.Errorf("synth: students %d-%d out of range 0-%d", from, to, g.cfg.Students)
	}
	var st Stats
	out := emit
	var sh *shuffler
	if g.cfg.Shuffle > 0 {
		sh = &shuffler{
			rng:  rand.New(rand.NewPCG(g.cfg.Seed^uint64(from), streamShuffle)),
			size: g.cfg.Shuffle,
			emit: emit,
		}
		out = sh.push
	}
	for i := from; i < to; i++ {
		n, err := g.student(i, out)
		st.Logs += n
		if err != nil {
			return st, err
		}
		st.Students++
	}
	if sh != nil {
		if err := sh.flush(); err != nil {
			return st, err
		}
	}
	return st, nil
}

// student simulates student i and returns the number of logs emitted.
func (g *Generator) student(i int, emit func(features.ProblemLog) error) (int64, error) {
	c := &g.cfg
	rng := rand.New(rand.NewPCG(c.Seed, uint64(i)))
	user := UserName(i)

	k := min(1+poisson(rng, c.ExercisesPerStudent-1), c.Exercises)
	slots := g.pick(rng, k)
	for s := range slots {
		slots[s].order = float64(slots[s].ex) + c.CurriculumSpread*rng.NormFloat64()
	}
	slices.SortFunc(slots, func(a, b slot) int { return cmp.Compare(a.order, b.order) })

	stu := features.NewStudent(g.comps)
	problemMicros := float64(c.ProblemTime.Microseconds())
	t := c.Start.UnixMicro() + int64(rng.Float64()*float64(c.Span.Microseconds()))
	var n int64
	next, open := 0, 0 // next new slot; started, unfinished slots
	for next < len(slots) || open > 0 {
		var sl *slot
		if next < len(slots) && (open == 0 || rng.Float64() >= c.ReturnProbability) {
			sl = &slots[next]
			next++
			sl.started, sl.next = true, 1
			open++
		} else {
			r := rng.IntN(open)
			for s := range slots[:next] {
				if slots[s].started && !slots[s].finished {
					if r == 0 {
						sl = &slots[s]
						break
					}
					r--
				}
			}
		}
		ex := sl.ex
		problems := c.MinVisitProblems + rng.IntN(c.MaxVisitProblems-c.MinVisitProblems+1)
		for p := 0; p < problems && !sl.finished; p++ {
			if p > 0 {
				// Lognormal time between attempts, mean ProblemTime.
				t += 1 + int64(problemMicros*math.Exp(0.8*rng.NormFloat64()-0.32))
			}
			stu.Features(g.names[ex], &g.x)
			correct := rng.Float64() < sigmoid(dot(&g.thetas[ex], &g.x))
			when := time.UnixMicro(t).UTC()
			if !features.TimeInRange(when) {
				return n, fmt.Errorf("synth: student %d's time_done %v is outside %s: start earlier", i, when, features.TimeRange)
			}
			l := features.ProblemLog{
				User:          user,
				TimeDone:      when,
				Exercise:      g.names[ex],
				ProblemType:   g.types[rng.IntN(len(g.types))],
				ProblemNumber: sl.next,
				Correct:       correct,
			}
			stu.Apply(l)
			if err := emit(l); err != nil {
				return n, err
			}
			n++
			sl.next++
			if correct {
				sl.streak++
			} else {
				sl.streak = 0
			}
			if (c.MasteryStreak > 0 && sl.streak >= c.MasteryStreak) || sl.next > c.MaxProblems {
				sl.finished = true
			}
		}
		if !sl.finished && rng.Float64() < c.AbandonProbability {
			sl.finished = true
		}
		if sl.finished {
			open--
		}
		// Exponential time between visits, mean VisitGap, after at least
		// one ProblemTime.
		t += int64(problemMicros) + int64(rng.ExpFloat64()*float64(c.VisitGap.Microseconds()))
	}
	return n, nil
}

// pick chooses k distinct exercises, each with probability proportional to
// its popularity among those not yet chosen, and returns them as fresh
// slots.
func (g *Generator) pick(rng *rand.Rand, k int) []slot {
	slots := g.slots[:0]
	e := len(g.names)
	few := 4*k <= e
	if few {
		// Few of many: draw from the weights, redrawing repeats. Weights
		// too skewed for float64 (a steep Popularity: all but the first
		// below 2^-53 of the total) would redraw forever; after 64 draws
		// per exercise the other method, of the same distribution, takes
		// over.
		total := g.cdf[e-1]
		for draws := 0; len(slots) < k; draws++ {
			if draws == 64*k {
				few, slots = false, slots[:0]
				break
			}
			ex, _ := slices.BinarySearch(g.cdf, rng.Float64()*total)
			ex = min(ex, e-1)
			if !slices.ContainsFunc(slots, func(s slot) bool { return s.ex == ex }) {
				slots = append(slots, slot{ex: ex})
			}
		}
	}
	if !few {
		// Efraimidis–Spirakis: the k smallest Exp(1)/w.
		g.keys, g.idx = g.keys[:0], g.idx[:0]
		for ex, w := range g.weights {
			g.keys = append(g.keys, rng.ExpFloat64()/w)
			g.idx = append(g.idx, ex)
		}
		slices.SortFunc(g.idx, func(a, b int) int { return cmp.Compare(g.keys[a], g.keys[b]) })
		for _, ex := range g.idx[:k] {
			slots = append(slots, slot{ex: ex})
		}
	}
	g.slots = slots
	return slots
}

// EstimateStudents returns about how many students of c (whose Students is
// ignored) produce logs logs. It scales from a pilot run of the first 400
// students, then refines with a run of the estimated number (at most 5,000).
func EstimateStudents(c Config, logs int64) (int, error) {
	if logs <= 0 {
		return 0, fmt.Errorf("synth: want a positive number of logs, not %d", logs)
	}
	pilot := 400
	for round := 0; round < 2; round++ {
		c.Students, c.Shuffle = pilot, 0
		g, err := New(c)
		if err != nil {
			return 0, err
		}
		st, err := g.Generate(func(features.ProblemLog) error { return nil })
		if err != nil {
			return 0, err
		}
		if st.Logs == 0 {
			return 0, fmt.Errorf("synth: %d pilot students produced no logs", pilot)
		}
		est := max(1, int(math.Round(float64(logs)*float64(pilot)/float64(st.Logs))))
		if round == 1 || est == pilot {
			return est, nil
		}
		pilot = min(est, 5000)
	}
	panic("unreachable")
}

// shuffler emits logs in random order within a sliding window.
type shuffler struct {
	rng  *rand.Rand
	size int
	buf  []features.ProblemLog
	emit func(features.ProblemLog) error
}

func (s *shuffler) push(l features.ProblemLog) error {
	if len(s.buf) < s.size {
		s.buf = append(s.buf, l)
		return nil
	}
	j := s.rng.IntN(s.size)
	out := s.buf[j]
	s.buf[j] = l
	return s.emit(out)
}

func (s *shuffler) flush() error {
	s.rng.Shuffle(len(s.buf), func(i, j int) { s.buf[i], s.buf[j] = s.buf[j], s.buf[i] })
	for _, l := range s.buf {
		if err := s.emit(l); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0]
	return nil
}

// poisson draws from a Poisson distribution of mean lambda.
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
	limit, k, p := math.Exp(-lambda), 0, rng.Float64()
	for p > limit {
		k++
		p *= rng.Float64()
	}
	return k
}

func pad(s string, width int) string {
	for len(s) < width {
		s = "0" + s
	}
	return s
}

func dot(a, b *[features.NumFeatures]float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
