// Package sourceflags defines the command-line flags that say where
// ProblemLogs come from, the same for every command that reads them
// (kmtrain, kmmonitor): files (--input, --columns, --shard_bytes) or
// BigQuery (--bq_table with --start/--end, or --bq_query, and the --bq_*
// settings).
package sourceflags

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/sample"
)

// Flags holds the values of the source flags after parsing.
type Flags struct {
	Input, Columns                       *string
	ShardBytes                           *int64
	BQTable, BQQuery, Start, End         *string
	BQProject, BQLocation, BQDestination *string
	BQMaxStreams                         *int
	BQRESTMaxRows                        *int64
	BQEndpoint, BQStorageEndpoint        *string
}

// Register defines the source flags on fs. projectHelp describes
// --bq_project, whose jobs differ by command.
func Register(fs *flag.FlagSet, projectHelp string) *Flags {
	return &Flags{
		Input:             fs.String("input", sample.ProblemLogs, "ProblemLog files: comma-separated globs (local, gs://), CSV with a header or newline-delimited JSON, optionally .gz. The default is a sample embedded in the binary."),
		Columns:           fs.String("columns", "", "Input column names where they differ from the ProblemLog schema, as field=column pairs, e.g. user=student_id,time_done=ts."),
		ShardBytes:        fs.Int64("shard_bytes", 0, "Read uncompressed local files in byte ranges of this size (0: 64 MiB)."),
		BQTable:           fs.String("bq_table", "", "BigQuery table of ProblemLogs, project.dataset.table, read within --start and --end (instead of --input)."),
		BQQuery:           fs.String("bq_query", "", "Standard SQL whose result is the ProblemLogs (instead of --input or --bq_table)."),
		Start:             fs.String("start", "", "With --bq_table: the first time_done read: a date (UTC midnight), an RFC 3339 time, or relative to the launch: today, yesterday, -<N>d."),
		End:               fs.String("end", "", "With --bq_table: the time_done reading stops before (excluded), in the forms of --start; --start=-90d --end=today is the last 90 days up to yesterday."),
		BQProject:         fs.String("bq_project", "", projectHelp),
		BQLocation:        fs.String("bq_location", "", "Location of the BigQuery jobs, e.g. US (default: BigQuery's choice)."),
		BQDestination:     fs.String("bq_destination", "", "Table project.dataset.table the query result is written to, replacing its rows (default: BigQuery's anonymous result table, kept ~24 h and capped at ~10 GB compressed)."),
		BQMaxStreams:      fs.Int("bq_max_streams", 0, "Most BigQuery Storage Read streams, the units read in parallel (0: 100)."),
		BQRESTMaxRows:     fs.Int64("bq_rest_max_rows", 0, "Results with at most this many rows are read through the BigQuery REST API by one worker; larger ones through the Storage Read API in parallel (0: 50000; -1: always Storage Read)."),
		BQEndpoint:        fs.String("bq_endpoint", "", "BigQuery REST endpoint, for private endpoints and tests (an http:// endpoint is used without credentials)."),
		BQStorageEndpoint: fs.String("bq_storage_endpoint", "", "BigQuery Storage Read gRPC endpoint host:port, for private endpoints and tests."),
	}
}

// Source is where the flags say the ProblemLogs are.
type Source struct {
	Input      string           // files, when BigQuery is nil
	BigQuery   *bqsource.Config // the table or query to read instead
	Columns    problemlogs.Columns
	ShardBytes int64
}

// Source reads the flags; explicit names the flags given on the command
// line, now is when the run started (relative windows count from it).
func (f *Flags) Source(explicit map[string]bool, now time.Time) (Source, error) {
	src := Source{Input: *f.Input, ShardBytes: *f.ShardBytes}
	var err error
	if src.Columns, err = problemlogs.ParseColumns(*f.Columns); err != nil {
		return src, err
	}
	if *f.BQTable == "" && *f.BQQuery == "" {
		if explicit["start"] || explicit["end"] {
			return src, errors.New("--start and --end select a window of --bq_table")
		}
		return src, nil
	}
	if explicit["input"] {
		return src, errors.New("give --input or --bq_table/--bq_query, not both")
	}
	cfg := bqsource.Config{
		Project: *f.BQProject, Table: *f.BQTable, Query: *f.BQQuery, Location: *f.BQLocation, Destination: *f.BQDestination,
		MaxStreams: *f.BQMaxStreams, RESTMaxRows: *f.BQRESTMaxRows,
		Endpoint: *f.BQEndpoint, StorageEndpoint: *f.BQStorageEndpoint,
		Insecure: f.Insecure(),
	}
	if cfg.Start, err = ParseBound("start", *f.Start, now); err != nil {
		return src, err
	}
	if cfg.End, err = ParseBound("end", *f.End, now); err != nil {
		return src, err
	}
	if err := cfg.Validate(); err != nil {
		return src, err
	}
	src.BigQuery = &cfg
	return src, nil
}

// Insecure reports whether --bq_endpoint is a plain http:// one (a test's
// fake), used without credentials.
func (f *Flags) Insecure() bool { return strings.HasPrefix(*f.BQEndpoint, "http://") }

// Describe says in words where the logs come from.
func (s Source) Describe() string {
	if s.BigQuery != nil {
		return s.BigQuery.Describe()
	}
	return s.Input
}

// ParseBound reads the time flag name: a date, a time, or one relative to
// now (see bqsource.ParseBound).
func ParseBound(name, s string, now time.Time) (time.Time, error) {
	t, err := bqsource.ParseBound(s, now)
	if err != nil {
		return t, fmt.Errorf("--%s=%v", name, err)
	}
	return t, nil
}
