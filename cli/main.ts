import { benchCommand } from '../bench/bench-command';
import { certsCommand } from './certs-command';
import { controlPlaneCommand } from './control-plane-command';
import { demoCommand } from './demo-command';
import { injectCommand } from './inject-command';
import { iptablesCommand } from './iptables-command';
import { meshCommand } from './mesh-command';
import { proxyCommand } from './proxy-command';
import { registerCommand } from './register-command';

const USAGE = `meshlet — a sidecar service-mesh proxy speaking Envoy v3 config

Usage: meshlet <command> [options]

Commands:
  proxy          Run the proxy from an Envoy v3 bootstrap (YAML or JSON), static or driven over xDS
  control-plane  Serve Envoy v3 ADS (SotW and Delta) from a mesh file or etcd to meshlet proxies, Envoy or gRPC clients
  mesh           Store the mesh document in etcd (apply, validated first) or print it (get)
  register       Register an endpoint of a service in etcd while this process lives (deregistered on SIGTERM)
  demo           Run a local demo mesh on loopback: 3 echo services (weights 1/2/7) behind the proxy
  bench          Run the benchmark harness (meshlet vs direct, nginx, HAProxy, Node proxies)
  certs          Create the mesh CA and issue SPIFFE workload certificates for mutual TLS
  inject         Add the meshlet sidecar to Kubernetes manifests (like istioctl kube-inject)
  iptables       Redirect a pod's TCP traffic through its sidecar (the injected init container runs it)

Run 'meshlet <command> --help' for a command's options.
`;

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  proxy: proxyCommand,
  'control-plane': controlPlaneCommand,
  mesh: meshCommand,
  register: registerCommand,
  demo: demoCommand,
  bench: benchCommand,
  certs: certsCommand,
  inject: injectCommand,
  iptables: iptablesCommand,
};

export function main(argv: string[]): void {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`meshlet: unknown command "${name}"\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  command(rest).then(
    (code) => {
      if (code !== 0) process.exit(code);
    },
    (err: Error) => {
      process.stderr.write(`meshlet ${name}: ${err.message}\n`);
      process.exit(1);
    },
  );
}
