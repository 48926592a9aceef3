// Command kube-scheduler is the upstream kube-scheduler, built from the same pinned modules as
// kube-apiserver, for the opt-in node of the local control plane (node.sh).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand()))
}
