// Command kubelet is the upstream kubelet, built from the same pinned modules as kube-apiserver.
// The opt-in node of the local control plane (node.sh) runs it against containerd.
package main

import (
	"context"
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	// The kubelet needs a real context (a nil one panics).
	os.Exit(cli.Run(app.NewKubeletCommand(context.Background())))
}
