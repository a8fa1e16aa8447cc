// Command kmlaunch launches the kmtrain Dataflow Flex Template through the
// Dataflow API (projects.locations.flexTemplates.launch) and prints the
// launched job's id, name and console URL.
//
// Every launch gets a new job name: the --job_name prefix, the UTC launch
// time and a short random suffix, e.g. kmtrain-20261126-130000-x7k2p9.
// Dataflow refuses a second active job with the same name (409
// ALREADY_EXISTS), so a fixed name would fail while a previous run is still
// going.
//
// A launch that reads a table (a bq_table parameter) gets the template
// parameters start and end for the last --window_days days (default 90) up
// to yesterday, UTC: start is the UTC launch date minus N days and end the
// UTC launch date itself (midnight, exclusive). An explicit --parameter
// start=... or end=... wins; --window_days=0 sets no window. A launch
// without bq_table (bq_query, input, or none: the embedded sample) gets no
// window, which kmtrain would refuse. With --relative_window it passes
// kmtrain's relative forms instead (start=-90d, end=today), which kmtrain
// resolves against its own launch date.
//
// A manual launch:
//
//	kmlaunch --project=my-project --region=us-central1 \
//	    --template=gs://my-bucket/templates/kmtrain.json \
//	    --parameter bq_table=my-project.logs.problemlogs \
//	    --parameter datastore_project=my-project \
//	    --service_account=kmtrain@my-project.iam.gserviceaccount.com \
//	    --temp_location=gs://my-bucket/tmp --machine_type=n2-standard-4 \
//	    --max_workers=20 --labels=team=learning,app=kmtrain
//
// Check a launch without starting a job (Dataflow validates the request):
//
//	kmlaunch --project=... --region=... --template=gs://... --validate_only
//
// Print the request instead of sending it:
//
//	kmlaunch --project=... --region=... --template=gs://... --dry_run
//
// Cloud Scheduler: a Scheduler HTTP job posts a static body to
// https://dataflow.googleapis.com/v1b3/projects/P/locations/R/flexTemplates:launch
// (with an OAuth token of a service account), so nothing in it can be
// computed at launch time. There the window comes from kmtrain's own relative
// values: generate the body with
//
//	kmlaunch --project=P --region=R --template=gs://... \
//	    --parameter bq_table=P.logs.problemlogs --relative_window --dry_run
//
// which carries start=-90d and end=today; kmtrain turns them into 90 days
// before its launch date and today's UTC midnight. The body's jobName is then
// the same on every run: Dataflow answers 409 while the previous run is
// still active (which keeps runs from overlapping) and accepts it again once
// that job has finished. Replace the generated name with a plain one (e.g.
// kmtrain-scheduled) if you prefer.
//
// Authentication uses Application Default Credentials. --dataflow_endpoint
// points the client elsewhere (a private endpoint, or a test server); an
// http:// endpoint is used without credentials.
package main
