# kmtrain on a schedule: Cloud Scheduler calls the Dataflow Flex Template launch API every night.
#
#   Cloud Scheduler ──POST flexTemplates:launch (as the scheduler service account)──▶ Dataflow
#     ▶ launcher VM runs the image's kmtrain (as the worker service account), which builds and submits the job
#     ▶ workers (the same binary, same service account) read BigQuery and write the model to Datastore
#
# Two service accounts, so that the identity that runs pipeline code cannot start jobs, and the one that starts
# jobs can read no data:
#   - worker: the launcher VM and the workers. Reads BigQuery, writes Datastore, stages in the bucket, pulls the
#     image. roles/dataflow.worker, not dataflow.developer: Dataflow creates the job from the launch request.
#   - scheduler: only launches. roles/dataflow.developer (create jobs) and iam.serviceAccountUser on the worker
#     account (a launch that names a service account must be allowed to act as it), objectViewer on the bucket
#     (the template spec). Cloud Scheduler's service agent mints its tokens with the
#     roles/cloudscheduler.serviceAgent it gets when the API is enabled; whoever applies this needs
#     iam.serviceAccounts.actAs on it too.
#
# Cloud Scheduler posts the same body every time, so every scheduled job has the same name (var.job_name):
# Dataflow refuses a launch whose name is that of a job still running with 409 ALREADY_EXISTS, so a run that
# overruns the next night's slot keeps the next one from starting on top of it. That is the intended behaviour for
# a schedule; manual launches use unique names (deploy/Makefile's run, cmd/kmlaunch). For the same reason the
# window cannot be dates computed here: it is relative (start=-90d, end=today) and kmtrain resolves it when the
# launcher runs it, in UTC.

locals {
  scheduler_region  = coalesce(var.scheduler_region, var.region)
  template_gcs_path = coalesce(var.template_gcs_path, "gs://${var.bucket}/templates/kmtrain.json")
  datastore_project = coalesce(var.datastore_project, var.project)

  # Known at plan time (unlike google_service_account.*.email), so the plan shows the whole launch request.
  worker_email     = "${var.worker_service_account_id}@${var.project}.iam.gserviceaccount.com"
  scheduler_email  = "${var.scheduler_service_account_id}@${var.project}.iam.gserviceaccount.com"
  worker_member    = "serviceAccount:${local.worker_email}"
  scheduler_member = "serviceAccount:${local.scheduler_email}"

  # The template's parameters and their regexes, from the file the template is built with.
  template_regexes = { for p in jsondecode(file("${path.module}/../metadata.json")).parameters : p.name => try(p.regexes, []) }

  # start/end select a window of bq_table; kmtrain refuses them with bq_query or input.
  reads_table = var.bq_table != null || contains(keys(var.parameters), "bq_table")
  parameters = merge(
    var.bq_table == null ? {} : { bq_table = var.bq_table },
    local.reads_table ? { start = "-${var.window_days}d", end = "today" } : {},
    # Run the BigQuery jobs where the workers may (below), whatever project the table is in.
    { bq_project = var.project, datastore_project = local.datastore_project },
    var.parameters,
  )
  bq_project = local.parameters["bq_project"]

  # FlexTemplateRuntimeEnvironment: what the launcher turns into Dataflow's own pipeline options. Unset ones are
  # left out rather than sent as null.
  launch_environment = merge(
    {
      serviceAccountEmail = local.worker_email
      tempLocation        = "gs://${var.bucket}/tmp"
      stagingLocation     = "gs://${var.bucket}/staging"
      machineType         = var.machine_type
      maxWorkers          = var.max_workers
    },
    var.num_workers == null ? {} : { numWorkers = var.num_workers },
    var.launcher_machine_type == null ? {} : { launcherMachineType = var.launcher_machine_type },
    var.network == null ? {} : { network = var.network },
    var.subnetwork == null ? {} : { subnetwork = var.subnetwork },
    var.private_ips ? { ipConfiguration = "WORKER_IP_PRIVATE" } : {},
    length(var.labels) == 0 ? {} : { additionalUserLabels = var.labels },
  )

  # The body of projects.locations.flexTemplates.launch.
  launch_request = {
    launchParameter = {
      jobName              = var.job_name
      containerSpecGcsPath = local.template_gcs_path
      parameters           = local.parameters
      environment          = local.launch_environment
    }
  }

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "datastore.googleapis.com",
    "dataflow.googleapis.com",
    "iam.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each           = var.enable_apis ? local.apis : toset([])
  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

# ---- Service accounts ----

resource "google_service_account" "worker" {
  project      = var.project
  account_id   = var.worker_service_account_id
  display_name = "kmtrain Dataflow launcher and workers"
  description  = "Runs kmtrain on Dataflow: reads ProblemLogs from BigQuery, writes the knowledge model to Datastore."
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "scheduler" {
  project      = var.project
  account_id   = var.scheduler_service_account_id
  display_name = "kmtrain scheduled launches"
  description  = "Cloud Scheduler launches the kmtrain Flex Template as this account; it can start jobs, not read data."
  depends_on   = [google_project_service.apis]
}

# ---- What the worker account may do ----

resource "google_project_iam_member" "worker_dataflow" {
  project    = var.project
  role       = "roles/dataflow.worker"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

# Run the query job and create Storage Read sessions, in the project the jobs are billed to (bq_project).
resource "google_project_iam_member" "worker_bigquery_jobs" {
  for_each   = toset(["roles/bigquery.jobUser", "roles/bigquery.readSessionUser"])
  project    = local.bq_project
  role       = each.value
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

# Read the ProblemLogs: on the listed datasets, or failing a list on the whole project.
resource "google_project_iam_member" "worker_bigquery_data" {
  count      = length(var.bq_datasets) == 0 ? 1 : 0
  project    = var.project
  role       = "roles/bigquery.dataViewer"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

resource "google_bigquery_dataset_iam_member" "worker_bigquery_data" {
  for_each   = toset(var.bq_datasets)
  project    = regex("^(.+)[.:]([A-Za-z0-9_]+)$", each.value)[0]
  dataset_id = regex("^(.+)[.:]([A-Za-z0-9_]+)$", each.value)[1]
  role       = "roles/bigquery.dataViewer"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

# The query result's table, when bq_destination names one.
resource "google_bigquery_dataset_iam_member" "worker_bigquery_destination" {
  count      = var.bq_destination_dataset == null ? 0 : 1
  project    = regex("^(.+)[.:]([A-Za-z0-9_]+)$", var.bq_destination_dataset)[0]
  dataset_id = regex("^(.+)[.:]([A-Za-z0-9_]+)$", var.bq_destination_dataset)[1]
  role       = "roles/bigquery.dataEditor"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

# Read the components, write the thetas, components and version entities.
resource "google_project_iam_member" "worker_datastore" {
  project    = local.parameters["datastore_project"] # var.parameters may name another project than var.datastore_project
  role       = "roles/datastore.user"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

# Staging and temporary files, and gs:// output in the bucket.
resource "google_storage_bucket_iam_member" "worker_objects" {
  bucket     = var.bucket
  role       = "roles/storage.objectAdmin"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

# The bucket's own metadata (storage.buckets.get), which objectAdmin lacks and staging checks.
resource "google_storage_bucket_iam_member" "worker_bucket" {
  bucket     = var.bucket
  role       = "roles/storage.legacyBucketReader"
  member     = local.worker_member
  depends_on = [google_service_account.worker]
}

resource "google_artifact_registry_repository" "images" {
  count         = var.create_artifact_repository ? 1 : 0
  project       = var.project
  location      = var.region
  repository_id = var.artifact_repository
  format        = "DOCKER"
  description   = "kmtrain Flex Template images (make -C deploy image)"
  depends_on    = [google_project_service.apis]
}

# Pull the template image: the launcher VM runs it, and so do the workers (the same binary is the worker binary).
resource "google_artifact_registry_repository_iam_member" "worker_images" {
  project    = var.project
  location   = var.region
  repository = var.artifact_repository
  role       = "roles/artifactregistry.reader"
  member     = local.worker_member
  depends_on = [google_service_account.worker, google_artifact_registry_repository.images]
}

# ---- What the scheduler account may do ----

resource "google_project_iam_member" "scheduler_launch" {
  project    = var.project
  role       = "roles/dataflow.developer"
  member     = local.scheduler_member
  depends_on = [google_service_account.scheduler]
}

resource "google_service_account_iam_member" "scheduler_acts_as_worker" {
  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountUser"
  member             = local.scheduler_member
  depends_on         = [google_service_account.scheduler]
}

resource "google_storage_bucket_iam_member" "scheduler_template" {
  bucket     = var.bucket
  role       = "roles/storage.objectViewer"
  member     = local.scheduler_member
  depends_on = [google_service_account.scheduler]
}

# ---- The schedule ----

resource "google_cloud_scheduler_job" "kmtrain" {
  project          = var.project
  region           = local.scheduler_region
  name             = var.job_name
  description      = "Launches the kmtrain Flex Template (${local.template_gcs_path}) as Dataflow job ${var.job_name}."
  schedule         = var.schedule
  time_zone        = var.time_zone
  paused           = var.paused
  attempt_deadline = "300s"

  # A failed launch is retried a few minutes later. A retry after a launch that succeeded but whose response was
  # lost gets 409 ALREADY_EXISTS (the job is running under the fixed name), so it never starts a second run.
  retry_config {
    retry_count          = 2
    min_backoff_duration = "300s"
    max_backoff_duration = "900s"
  }

  http_target {
    http_method = "POST"
    uri         = "https://dataflow.googleapis.com/v1b3/projects/${var.project}/locations/${var.region}/flexTemplates:launch"
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode(local.launch_request))

    oauth_token {
      service_account_email = local.scheduler_email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  lifecycle {
    # An unknown parameter would reach kmtrain as an unknown flag and kill the job at 3 am: refuse it at plan.
    precondition {
      condition     = length(setsubtract(keys(local.parameters), keys(local.template_regexes))) == 0
      error_message = "Not parameters of the kmtrain template (deploy/metadata.json): ${join(", ", setsubtract(keys(local.parameters), keys(local.template_regexes)))}."
    }
    precondition {
      condition     = alltrue([for k, v in local.parameters : alltrue([for r in try(local.template_regexes[k], []) : can(regex(r, v))])])
      error_message = "Values that deploy/metadata.json's regexes refuse: ${join(", ", [for k, v in local.parameters : "${k}=${v}" if !alltrue([for r in try(local.template_regexes[k], []) : can(regex(r, v))])])}."
    }
    precondition {
      condition     = length(setintersection(keys(local.parameters), ["bq_table", "bq_query", "input"])) == 1
      error_message = "Give exactly one source: bq_table (variable or parameter), or parameters.bq_query, or parameters.input."
    }
  }

  depends_on = [
    google_project_service.apis,
    google_project_iam_member.scheduler_launch,
    google_service_account_iam_member.scheduler_acts_as_worker,
    google_storage_bucket_iam_member.scheduler_template,
  ]
}
