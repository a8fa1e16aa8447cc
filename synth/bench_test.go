package synth

import (
	"io"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
)

// BenchmarkGenerate measures the simulation alone and with CSV writing.
func BenchmarkGenerate(b *testing.B) {
	c := DefaultConfig()
	c.Students = 2000
	b.Run("simulate", func(b *testing.B) {
		var logs int64
		for b.Loop() {
			g, _ := New(c)
			st, _ := g.Generate(func(features.ProblemLog) error { return nil })
			logs += st.Logs
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(logs), "ns/log")
	})
	b.Run("csv", func(b *testing.B) {
		var logs int64
		for b.Loop() {
			g, _ := New(c)
			st, _ := g.WriteCSV(io.Discard, CSVOptions{})
			logs += st.Logs
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(logs), "ns/log")
	})
}
