// Command kmmodel lets operators see and change which knowledge model
// version is live: in Datastore (--datastore_project) it lists, shows and
// compares versions, promotes one through the promotion gate, rolls back and
// rejects; on local kmtrain output directories (--model) it lists, shows
// and compares them.
//
// Usage:
//
//	kmmodel [flags] versions
//	kmmodel [flags] show VERSION
//	kmmodel [flags] diff A B
//	kmmodel --datastore_project=P promote VERSION [--force] [--max_regression=0.002] [--why="..."]
//	kmmodel --datastore_project=P rollback [--why="..."]
//	kmmodel --datastore_project=P reject VERSION --why="..."
//
// Run kmmodel -h for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/modelops"
	"github.com/kmtrain/knowledgemodel/store"
)

const usage = `usage: kmmodel [flags] COMMAND [ARGS]

Where versions are (one of):
  --datastore_project=P [--datastore_namespace=N]
        Datastore (DATASTORE_EMULATOR_HOST is honoured).
  --model=DIR
        local kmtrain output directories: DIR itself, if it holds a model
        (thetas.jsonl, summary.json), and each directory in it that does
        (default "."). A VERSION is a directory (in DIR, or a path) or the
        version id of one. Directories have no status and no current
        version: kmtrain --output neither gates nor promotes.

Commands:
  versions            every version, newest first: id, status, created, input,
                      held-out log-likelihood and AUC
  show VERSION        its record: input, settings, counts, held-out
                      evaluation, gate and (Datastore) status history
  diff A B            per exercise: the thetas' L2 distance and largest change,
                      held-out log-likelihood and AUC of each; exercises only
                      one version has
  promote VERSION     (Datastore) make it current, through the promotion gate
                      unless --force, if the version current when kmmodel
                      looked is still current by the time it switches
  rollback            (Datastore) make the version the current one replaced
                      current again (no gate; twice returns to where it was)
  reject VERSION      (Datastore) mark it rejected, saying --why; the current
                      version cannot be: promote or roll back first

The gate is kmtrain's rule: the version's mean held-out log-likelihood may be
at most --max_regression below the current version's. kmtrain re-scores the
same held-out attempts with both versions; kmmodel cannot (that needs the
logs and the pipeline). If the version's own run gated it against the
version current now, kmmodel decides that comparison again; otherwise it
compares the log-likelihoods the two runs recorded, each on its own held-out
attempts, and says so.

Every change is one Datastore transaction and is recorded in the version's
history (shown by show) with who made it (the program and $USER) and why.

Flags:
`

// commands says how many arguments each command takes and which of the
// command flags it accepts.
var commands = map[string]struct {
	args  []string // names, for the usage error
	flags []string
	write bool // changes Datastore
}{
	"versions": {},
	"show":     {args: []string{"VERSION"}},
	"diff":     {args: []string{"A", "B"}},
	"promote":  {args: []string{"VERSION"}, flags: []string{"force", "max_regression", "why"}, write: true},
	"rollback": {flags: []string{"why"}, write: true},
	"reject":   {args: []string{"VERSION"}, flags: []string{"why"}, write: true},
}

// commandFlags are the flags only some commands take.
var commandFlags = []string{"force", "max_regression", "why"}

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// usageError is a mistake in the command line: it exits 2, with the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run runs a command line and returns the exit status: 0, 1 on an error,
// 2 on a mistake in the command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kmmodel", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	project := fs.String("datastore_project", "", "Datastore project of the model (DATASTORE_EMULATOR_HOST is honoured).")
	namespace := fs.String("datastore_namespace", "", "Datastore namespace of the model (default: the default namespace).")
	dir := fs.String("model", ".", "A kmtrain output directory, or a directory of them (instead of Datastore).")
	force := fs.Bool("force", false, "promote: without the gate, a rejected version too.")
	maxRegression := fs.Float64("max_regression", model.DefaultMaxRegression, "promote: the most the version's mean held-out log-likelihood may fall below the current version's (nats per attempt).")
	why := fs.String("why", "", "promote, rollback: why, for the history; reject: why (required).")
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}

	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return 0
	}
	if err == nil {
		err = check(fs, pos, *why, *project)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kmmodel:", err)
		printUsage(stderr)
		return 2
	}
	cmd, pos := pos[0], pos[1:]

	var src modelops.Source
	var st *store.Store
	if *project != "" {
		if st, err = store.Open(ctx, *project, *namespace); err != nil {
			fmt.Fprintln(stderr, "kmmodel:", err)
			return 1
		}
		defer st.Close()
		st.By = "kmmodel" + by()
		src = modelops.Datastore{Store: st}
	} else {
		src = modelops.Dirs{Root: *dir}
	}
	switch cmd {
	case "versions":
		err = modelops.List(ctx, src, stdout)
	case "show":
		err = modelops.Show(ctx, src, pos[0], stdout)
	case "diff":
		err = modelops.Diff(ctx, src, pos[0], pos[1], stdout)
	case "promote":
		err = modelops.Promote(ctx, st, pos[0], modelops.PromoteOptions{MaxRegression: *maxRegression, Force: *force, Why: *why}, stdout)
	case "rollback":
		err = modelops.Rollback(ctx, st, *why, stdout)
	case "reject":
		err = modelops.Reject(ctx, st, pos[0], *why, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kmmodel:", oneLine(err))
		return 1
	}
	return 0
}

// parse parses flags wherever they are among the arguments (kmmodel reject
// V --why=...), and returns the other arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// check checks the command line: a known command, its arguments, and flags
// that make sense with it.
func check(fs *flag.FlagSet, pos []string, why, project string) error {
	if len(pos) == 0 {
		return usageError{"no command"}
	}
	c, ok := commands[pos[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown command %q", pos[0])}
	}
	switch n := len(pos) - 1; {
	case n < len(c.args):
		return usageError{fmt.Sprintf("%s: missing %s", pos[0], strings.Join(c.args[n:], " "))}
	case n > len(c.args):
		return usageError{fmt.Sprintf("%s: unexpected argument %q", pos[0], pos[1+len(c.args)])}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, f := range commandFlags {
		if set[f] && !slices.Contains(c.flags, f) {
			return usageError{fmt.Sprintf("%s does not take --%s", pos[0], f)}
		}
	}
	switch {
	case set["datastore_project"] && strings.TrimSpace(project) == "":
		return usageError{"--datastore_project is empty"}
	case set["datastore_project"] && set["model"]:
		return usageError{"give --datastore_project or --model, not both"}
	case set["datastore_namespace"] && !set["datastore_project"]:
		return usageError{"--datastore_namespace needs --datastore_project"}
	case c.write && !set["datastore_project"]:
		return usageError{fmt.Sprintf("%s needs --datastore_project: an output directory has no status or current version to change", pos[0])}
	case pos[0] == "reject" && strings.TrimSpace(why) == "":
		return usageError{"reject: missing --why"}
	}
	return nil
}

// by names the operator for the history: " (user)".
func by() string {
	if u := os.Getenv("USER"); u != "" {
		return " (" + u + ")"
	}
	return ""
}

// oneLine keeps an error to one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}
