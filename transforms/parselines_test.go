package transforms

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// TestParallelParserOrder checks that the results come back once a line, in
// the order of the lines, bad rows included, whatever the number of
// goroutines and however the lines fall into chunks.
func TestParallelParserOrder(t *testing.T) {
	header := []byte("user,time_done,exercise,problem_type,problem_number,correct\n")
	var lines [][]byte
	for i := range 3*linesPerChunk + 17 {
		line := fmt.Sprintf("u%d,2014-01-02T03:04:%02dZ,ex%d,t,%d,true\n", i%7, i%60, i%5, 1+i%9)
		if i%1000 == 3 {
			line = fmt.Sprintf("u%d,not a time,ex,t,1,true\n", i)
		}
		lines = append(lines, []byte(line))
	}
	type result struct {
		log    features.ProblemLog
		bad    bool
		offset int64
		line   string
	}
	serial, err := problemlogs.NewCSVParser(header, problemlogs.DefaultColumns)
	if err != nil {
		t.Fatal(err)
	}
	var want []result
	for i, line := range lines {
		l, err := serial.Parse(line)
		want = append(want, result{l, err != nil, int64(i), string(line)})
	}
	for _, workers := range []int{1, 2, 5} {
		for _, n := range []int{0, 1, linesPerChunk, len(lines)} {
			var got []result
			pp := newParallelParser(workers, func() problemlogs.Parser {
				p, _ := problemlogs.NewCSVParser(header, problemlogs.DefaultColumns)
				return p
			}, func(l features.ProblemLog, err error, offset int64, line []byte) {
				got = append(got, result{l, err != nil, offset, string(line)})
			})
			for i, line := range lines[:n] {
				pp.Add(line, int64(i))
			}
			pp.Close()
			pp.Close()
			if !slices.Equal(got, want[:n]) {
				t.Errorf("workers=%d lines=%d: results differ from a serial parse", workers, n)
			}
		}
	}
}
