variable "project" {
  description = "Project that runs the Dataflow jobs and holds the service accounts, the scheduler job and the image repository."
  type        = string
}

variable "region" {
  description = "Dataflow region of the scheduled jobs, and location of the Artifact Registry repository."
  type        = string
  default     = "us-central1"
}

variable "scheduler_region" {
  description = "Cloud Scheduler location (Cloud Scheduler is not in every region). Default: region."
  type        = string
  default     = null
}

variable "enable_apis" {
  description = "Enable the APIs the pipeline and the schedule use in project (they are left enabled on destroy)."
  type        = bool
  default     = true
}

variable "bucket" {
  description = "Existing bucket for the template spec (templates/kmtrain.json, written by `make -C deploy template`) and Dataflow's staging/ and tmp/ files. The workers get object admin on it; a gs:// output elsewhere needs its own grant."
  type        = string
}

variable "template_gcs_path" {
  description = "The Flex Template spec to launch. Default: gs://BUCKET/templates/kmtrain.json, where deploy/Makefile puts it."
  type        = string
  default     = null

  validation {
    condition     = var.template_gcs_path == null || can(regex("^gs://[^/]+/.+[.]json$", var.template_gcs_path))
    error_message = "template_gcs_path must be gs://BUCKET/PATH.json."
  }
}

variable "artifact_repository" {
  description = "Artifact Registry repository (docker format, in region) of the template image; the workers get reader on it."
  type        = string
  default     = "kmtrain"
}

variable "create_artifact_repository" {
  description = "Create artifact_repository; false when it exists already."
  type        = bool
  default     = true
}

variable "worker_service_account_id" {
  description = "Account id of the service account the launcher VM and the workers run as."
  type        = string
  default     = "kmtrain-worker"
}

variable "scheduler_service_account_id" {
  description = "Account id of the service account Cloud Scheduler calls the Dataflow API as."
  type        = string
  default     = "kmtrain-scheduler"
}

variable "job_name" {
  description = "Name of the Cloud Scheduler job and of every Dataflow job it launches. Fixed on purpose: a launch while the previous run is still going fails with 409 ALREADY_EXISTS, so two trainings never overlap."
  type        = string
  default     = "kmtrain-scheduled"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.job_name))
    error_message = "job_name must be a Dataflow job name: lower-case letters, digits and '-', starting with a letter."
  }
}

variable "schedule" {
  description = "When to train, in cron syntax, in time_zone."
  type        = string
  default     = "0 3 * * *"

  validation {
    condition     = can(regex("^[^ ]+( [^ ]+){4}$", var.schedule))
    error_message = "schedule must be a cron expression of five fields."
  }
}

variable "time_zone" {
  description = "Time zone of schedule (tz database name). UTC keeps the schedule aligned with the window, which kmtrain resolves in UTC."
  type        = string
  default     = "Etc/UTC"
}

variable "paused" {
  description = "Create the scheduler job paused."
  type        = bool
  default     = false
}

variable "window_days" {
  description = "Days of ProblemLogs each run trains on: start=-<window_days>d, end=today, which kmtrain resolves at launch (UTC midnights). Applies when reading bq_table."
  type        = number
  default     = 90

  validation {
    condition     = var.window_days >= 1 && floor(var.window_days) == var.window_days
    error_message = "window_days must be a whole number of days, at least 1."
  }
}

variable "bq_table" {
  description = "BigQuery table of ProblemLogs, project.dataset.table. Null when parameters give bq_query (or input) instead."
  type        = string
  default     = null
}

variable "bq_datasets" {
  description = "Datasets the workers may read, as PROJECT.DATASET: the dataset of bq_table, or those bq_query reads (roles/bigquery.dataViewer on each). Empty: dataViewer on the whole of project."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for d in var.bq_datasets : can(regex("^.+[.:][A-Za-z0-9_]+$", d))])
    error_message = "bq_datasets must be PROJECT.DATASET names."
  }
}

variable "bq_destination_dataset" {
  description = "PROJECT.DATASET of the bq_destination parameter's table, if one is given (roles/bigquery.dataEditor on it)."
  type        = string
  default     = null

  validation {
    condition     = var.bq_destination_dataset == null || can(regex("^.+[.:][A-Za-z0-9_]+$", var.bq_destination_dataset))
    error_message = "bq_destination_dataset must be PROJECT.DATASET."
  }
}

variable "datastore_project" {
  description = "Project whose Datastore the model is written to (roles/datastore.user there). Default: project."
  type        = string
  default     = null
}

variable "parameters" {
  description = "Other kmtrain template parameters, or overrides of the ones set here (bq_table, start, end, bq_project, datastore_project), e.g. { promote = \"false\", datastore_namespace = \"staging\" }. Names and values are checked against deploy/metadata.json at plan time."
  type        = map(string)
  default     = {}
}

variable "machine_type" {
  description = "Worker machine type."
  type        = string
  default     = "n2-standard-4"
}

variable "max_workers" {
  description = "Most workers autoscaling may use."
  type        = number
  default     = 10
}

variable "num_workers" {
  description = "Workers to start with. Default: Dataflow's choice."
  type        = number
  default     = null
}

variable "launcher_machine_type" {
  description = "Machine type of the launcher VM that runs kmtrain to build the job. Default: Dataflow's (n1-standard-1)."
  type        = string
  default     = null
}

variable "network" {
  description = "VPC network of the launcher and the workers. Default: default."
  type        = string
  default     = null
}

variable "subnetwork" {
  description = "Subnetwork, as regions/REGION/subnetworks/NAME or a full URL. Default: Dataflow's choice."
  type        = string
  default     = null
}

variable "private_ips" {
  description = "Give the launcher and the workers private IPs only (the subnetwork then needs Private Google Access)."
  type        = bool
  default     = false
}

variable "labels" {
  description = "Labels of the Dataflow jobs."
  type        = map(string)
  default     = {}
}
