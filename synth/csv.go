package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/kmtrain/knowledgemodel/features"
)

// Header is the header line of the CSV files CSVWriter writes.
const Header = "user,time_done,exercise,problem_type,problem_number,correct"

// ExtraHeader is the header line with CSVOptions.ExtraColumns: the six
// ProblemLog columns, in another order, among columns a ProblemLog lacks.
// Every topic value is quoted and holds a comma and an escaped quote.
const ExtraHeader = "user,time_done,time_taken,exercise,problem_type,problem_number,correct,hint_used,topic"

// TimeLayout formats time_done: RFC 3339 in UTC with microseconds, such as
// "2014-01-05T18:27:50.998506Z".
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// BadKind is a way a malformed line is broken.
type BadKind int

// The kinds of malformed lines.
const (
	BadMissingField  BadKind = iota // a ProblemLog field is empty
	BadColumns                      // the last column is dropped
	BadTime                         // time_done is not a time
	BadProblemNumber                // problem_number is not an integer
	BadCorrect                      // correct is not a boolean
	NumBadKinds                     // the number of kinds
)

var badNames = [NumBadKinds]string{"missing field", "missing column", "bad time", "bad problem number", "bad correct"}

// String names the kind.
func (k BadKind) String() string {
	if k >= 0 && k < NumBadKinds {
		return badNames[k]
	}
	return fmt.Sprintf("BadKind(%d)", int(k))
}

// Corrupt values of the malformed lines, chosen at random.
var (
	badTimes          = []string{"2014-13-45T25:61:00Z", "yesterday", "1389000000"}
	badProblemNumbers = []string{"two", "1.5", "#3"}
	badCorrects       = []string{"maybe", "yes", "2"}
)

// CSVOptions controls a CSVWriter.
type CSVOptions struct {
	// ExtraColumns writes ExtraHeader's columns instead of Header's.
	ExtraColumns bool
	// BadFraction is the probability that a malformed line, a broken copy
	// of the log just written, follows each log. The good lines still hold
	// every log, so readers that skip bad lines read exactly the logs.
	BadFraction float64
	// Seed seeds the extra columns' values and the malformed lines.
	Seed uint64
}

// CSVStats counts the lines a CSVWriter wrote, header excluded.
type CSVStats struct {
	Logs int64              // good lines, one per log
	Bad  [NumBadKinds]int64 // malformed lines by kind
}

// BadLines returns the number of malformed lines.
func (s CSVStats) BadLines() int64 {
	var n int64
	for _, b := range s.Bad {
		n += b
	}
	return n
}

// CSVWriter writes ProblemLogs as CSV lines. Fields are quoted as RFC 4180
// requires. Call Flush at the end.
type CSVWriter struct {
	bw    *bufio.Writer
	opts  CSVOptions
	rng   *rand.Rand
	line  []byte
	stats CSVStats
	err   error
}

// NewCSVWriter returns a writer to w and writes the header line.
func NewCSVWriter(w io.Writer, opts CSVOptions) (*CSVWriter, error) {
	if !(opts.BadFraction >= 0 && opts.BadFraction <= 1) {
		return nil, fmt.Errorf("synth: BadFraction %v, want a probability", opts.BadFraction)
	}
	c := &CSVWriter{bw: bufio.NewWriterSize(w, 1<<16), opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x637376))}
	h := Header
	if opts.ExtraColumns {
		h = ExtraHeader
	}
	_, c.err = c.bw.WriteString(h + "\n")
	return c, c.err
}

// Write writes the line of l and, with probability BadFraction, a
// malformed line after it.
func (c *CSVWriter) Write(l features.ProblemLog) error {
	if c.err != nil {
		return c.err
	}
	var f [6]string // overrides of the six fields for a malformed line
	c.line = c.appendLine(c.line[:0], &l, &f, -1)
	c.stats.Logs++
	if c.opts.BadFraction > 0 && c.rng.Float64() < c.opts.BadFraction {
		kind := BadKind(c.rng.IntN(int(NumBadKinds)))
		c.stats.Bad[kind]++
		switch kind {
		case BadMissingField:
			i := []int{0, 2, 3, 4, 5}[c.rng.IntN(5)] // user, exercise, type, number, correct
			f[i] = " "
		case BadTime:
			f[1] = badTimes[c.rng.IntN(len(badTimes))]
		case BadProblemNumber:
			f[4] = badProblemNumbers[c.rng.IntN(len(badProblemNumbers))]
		case BadCorrect:
			f[5] = badCorrects[c.rng.IntN(len(badCorrects))]
		}
		drop := -1
		if kind == BadColumns {
			drop = 0
		}
		c.line = c.appendLine(c.line, &l, &f, drop)
	}
	_, c.err = c.bw.Write(c.line)
	return c.err
}

// appendLine appends the line of l, with the fields of f that are not ""
// replacing l's (a blank one gives an empty field), and, if drop >= 0,
// without its last column.
func (c *CSVWriter) appendLine(b []byte, l *features.ProblemLog, f *[6]string, drop int) []byte {
	field := func(b []byte, i int) []byte {
		if f[i] != "" {
			return appendField(b, strings.TrimSpace(f[i]))
		}
		switch i {
		case 0:
			return appendField(b, l.User)
		case 1:
			return l.TimeDone.UTC().AppendFormat(b, TimeLayout)
		case 2:
			return appendField(b, l.Exercise)
		case 3:
			return appendField(b, l.ProblemType)
		case 4:
			return strconv.AppendInt(b, int64(l.ProblemNumber), 10)
		}
		return strconv.AppendBool(b, l.Correct)
	}
	if !c.opts.ExtraColumns {
		for i := 0; i < 6; i++ {
			if i == 5 && drop >= 0 {
				break
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = field(b, i)
		}
		return append(b, '\n')
	}
	// user,time_done,time_taken,exercise,problem_type,problem_number,correct,hint_used,topic
	b = field(b, 0)
	b = append(b, ',')
	b = field(b, 1)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(5+c.rng.IntN(120)), 10)
	for i := 2; i < 6; i++ {
		b = append(b, ',')
		b = field(b, i)
	}
	b = append(b, ',')
	b = strconv.AppendBool(b, c.rng.Float64() < 0.1)
	if drop < 0 {
		b = append(b, ',')
		b = appendField(b, `Math, "`+l.Exercise+`"`)
	}
	return append(b, '\n')
}

// appendField appends s, quoted if it holds a comma, a quote or a line end.
func appendField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// Flush writes any buffered data.
func (c *CSVWriter) Flush() error {
	if c.err != nil {
		return c.err
	}
	c.err = c.bw.Flush()
	return c.err
}

// Stats returns the counts of lines written so far.
func (c *CSVWriter) Stats() CSVStats { return c.stats }

// WriteCSV generates every student of g and writes their logs to w as CSV.
func (g *Generator) WriteCSV(w io.Writer, opts CSVOptions) (CSVStats, error) {
	cw, err := NewCSVWriter(w, opts)
	if err != nil {
		return CSVStats{}, err
	}
	if _, err := g.Generate(cw.Write); err != nil {
		return cw.Stats(), err
	}
	return cw.Stats(), cw.Flush()
}
