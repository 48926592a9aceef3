// Command kube-apiserver is the upstream kube-apiserver, built from the published Go modules so
// that the tests get a real control plane without a container engine.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
