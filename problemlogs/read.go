package problemlogs

import (
	"bufio"
	"bytes"
	"io"

	"github.com/kmtrain/knowledgemodel/features"
)

// Read reads a whole file of ProblemLogs from r: CSV with a header or
// newline-delimited JSON, told apart by DetectFormat from name and the first
// line. It calls fn with the line number (from 1) of every data line and
// either its ProblemLog or the *RowError that makes it bad; blank lines are
// skipped. fn's error stops the read and is returned, as is a header that
// lacks a column (*MissingColumnError). An empty input reads nothing.
func Read(r io.Reader, name string, cols Columns, fn func(line int, l features.ProblemLog, err error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var p Parser
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if p == nil {
			if DetectFormat(name, line) == JSON {
				p = JSONParser{Columns: cols}
			} else {
				csv, err := NewCSVParser(line, cols)
				if err != nil {
					return err
				}
				p = csv
				continue
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		l, err := p.Parse(line)
		if err := fn(n, l, err); err != nil {
			return err
		}
	}
	return sc.Err()
}
