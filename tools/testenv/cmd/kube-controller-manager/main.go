// Command kube-controller-manager is the upstream kube-controller-manager, built from the same
// pinned modules as kube-apiserver. The local control plane runs only its garbage collector and
// namespace controller (see up.sh).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
