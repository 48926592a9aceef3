// Command pause is the process of a Pod's sandbox container on the local node: it waits for
// SIGTERM or SIGINT and exits. No registry is reachable for registry.k8s.io/pause, so the
// sandbox image is written from this binary by node.sh (with tools/image/oci-image.py).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
