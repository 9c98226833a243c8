# Prints a timestamped line every 100 ms: the stream-latency benchmark measures how long each takes to reach
# an SSE client.
variable "lines" {
  type        = number
  description = "How many timestamped lines to print."
  default     = 60
}

resource "null_resource" "ticker" {
  provisioner "local-exec" {
    command = "i=0; while [ $i -lt ${var.lines} ]; do echo \"tick $(date +%s.%N)\"; sleep 0.1; i=$((i+1)); done"
  }
}
