# kmstream on Dataflow: the streaming pipeline as a long-running job of the streaming Flex Template
# (deploy/kmstream-metadata.json, the image built with TEMPLATE_BINARY=kmstream).
#
#   publishers ──▶ topic problemlogs ──▶ subscription problemlogs-kmstream ──▶ Dataflow job kmstream
#                                         └─ undeliverable after max_delivery_attempts ──▶ topic problemlogs-dead-letter
#
# Messages are JSON ProblemLogs with the time_done and id attributes (pubsublogs.Message). Dataflow's Pub/Sub source
# acknowledges a message once the job has durably taken it, so the dead-letter policy catches only messages the job
# never takes (for instance while it is stopped past the retention); the job's own dead letters, messages that are
# not ProblemLogs, are files under output/deadletters/.
#
# The job runs as the worker service account of ../ (kmtrain's), which needs roles/pubsub.subscriber here, and
# publisher on parameters.alert_topic and dataEditor on parameters.bq_output's dataset when they are given; it reads
# the model from Datastore or gs:// and writes output to gs://. Changing a parameter and applying updates the
# running job in place (the step names are stable); destroying it drains it (on_delete = "drain"), so no attempt
# that was read is lost.

data "google_project" "this" {
  project_id = var.project
}

locals {
  worker_email  = "${var.worker_service_account_id}@${var.project}.iam.gserviceaccount.com"
  worker_member = "serviceAccount:${local.worker_email}"
  # Pub/Sub's service agent forwards dead letters and acknowledges them on the subscription.
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  parameters = merge({
    subscription = google_pubsub_subscription.kmstream.id
    output       = "gs://${var.bucket}/kmstream"
  }, var.datastore_project == null ? {} : { datastore_project = var.datastore_project }, var.parameters)
  # The sinks the job writes to besides gs://: an alert topic (projects/P/topics/T) and a BigQuery table
  # (project.dataset.table or project:dataset.table).
  alert_topic = try(regex("^projects/([^/]+)/topics/([^/]+)$", var.parameters["alert_topic"]), null)
  bq_output   = try(regex("^(.+)[.:]([A-Za-z0-9_]+)[.]([^.]+)$", var.parameters["bq_output"]), null)
}

resource "google_pubsub_topic" "problemlogs" {
  project = var.project
  name    = var.topic
}

resource "google_pubsub_topic" "dead_letter" {
  project = var.project
  name    = "${var.topic}-dead-letter"
}

resource "google_pubsub_subscription" "kmstream" {
  project = var.project
  name    = var.subscription
  topic   = google_pubsub_topic.problemlogs.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s" # 7 days: a stopped job catches up on a week
  expiration_policy {
    ttl = "" # never expires, however long the job is stopped
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
}

# A subscription to the dead-letter topic, so that what lands there is kept to be looked at.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project
  name                       = "${var.topic}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
}

resource "google_pubsub_subscription_iam_member" "worker_subscriber" {
  project      = var.project
  subscription = google_pubsub_subscription.kmstream.name
  role         = "roles/pubsub.subscriber"
  member       = local.worker_member
}

resource "google_pubsub_topic_iam_member" "agent_dead_letter_publisher" {
  project = var.project
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscriber" {
  project      = var.project
  subscription = google_pubsub_subscription.kmstream.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# Alerts are published by the workers, as the job's account.
resource "google_pubsub_topic_iam_member" "worker_alerts" {
  count   = local.alert_topic == null ? 0 : 1
  project = local.alert_topic[0]
  topic   = local.alert_topic[1]
  role    = "roles/pubsub.publisher"
  member  = local.worker_member
}

# The windows' rows: the table is created if needed, then rows are streamed into it.
resource "google_bigquery_dataset_iam_member" "worker_bq_output" {
  count      = local.bq_output == null ? 0 : 1
  project    = local.bq_output[0]
  dataset_id = local.bq_output[1]
  role       = "roles/bigquery.dataEditor"
  member     = local.worker_member
}

resource "google_dataflow_flex_template_job" "kmstream" {
  provider                = google-beta
  project                 = var.project
  region                  = var.region
  name                    = var.job_name
  container_spec_gcs_path = var.template_gcs_path
  service_account_email   = local.worker_email
  temp_location           = "gs://${var.bucket}/tmp"
  staging_location        = "gs://${var.bucket}/staging"
  machine_type            = var.machine_type
  max_workers             = var.max_workers
  enable_streaming_engine = true
  on_delete               = "drain"

  parameters = local.parameters

  depends_on = [google_pubsub_subscription_iam_member.worker_subscriber, google_pubsub_topic_iam_member.worker_alerts,
  google_bigquery_dataset_iam_member.worker_bq_output]

  lifecycle {
    precondition {
      condition     = contains(keys(local.parameters), "datastore_project") || can(regex("^gs://", try(local.parameters["model"], "")))
      error_message = "Name the model to score with: datastore_project, or parameters.model (a gs:// kmtrain output directory)."
    }
    precondition {
      condition     = !contains(keys(var.parameters), "alert_topic") || local.alert_topic != null
      error_message = "parameters.alert_topic: want projects/P/topics/T."
    }
    precondition {
      condition     = !contains(keys(var.parameters), "bq_output") || local.bq_output != null
      error_message = "parameters.bq_output: want project.dataset.table."
    }
  }
}
