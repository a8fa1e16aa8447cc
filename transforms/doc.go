// Package transforms holds the Beam composites and DoFns of the knowledge
// model's pipelines: reading ProblemLogs (files, BigQuery), replaying
// students into training rows, training exercises, evaluating, monitoring
// and writing the model.
//
// # Goroutines in DoFns
//
// Some DoFns here (replayFn, trainFn, and the readers' parallelParser) do
// their work on goroutines of their own, because a runner may give a whole
// stage to one bundle (prism does). A bundle can be short (one element, or
// none) and can fail midway, and the runner may reuse the DoFn for the next
// bundle. Every such DoFn follows one contract:
//
//  1. A goroutine gets what it reads (channels, WaitGroups, its worker's
//     state) as arguments when it is started, never by reading a field of
//     the DoFn that StartBundle, FinishBundle or an error path reassigns: a
//     bundle can end before the goroutine first runs.
//  2. Emitting, counting and logging happen on the DoFn's own goroutine;
//     goroutines hand their results back through channels or their own
//     state.
//  3. FinishBundle closes the work channel and waits until every goroutine
//     has handed back all it was given, so nothing is emitted after the
//     bundle ends and nothing is lost.
//  4. A failed bundle does not wait: it closes the work channel (and a quit
//     channel where goroutines send results), so that no goroutine is left
//     blocked on a send that nobody receives.
//
// TestBundleStress runs hundreds of pipelines over tiny inputs and many
// bundles under a deadline, to catch a goroutine that waits forever.
package transforms
