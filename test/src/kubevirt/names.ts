// Names KubeVirt (and the kubelet) put on objects; the emulated lifecycle writes exactly these.

export const KUBEVIRT_GROUP = 'kubevirt.io';
export const KUBEVIRT_VERSION = 'v1';
export const KUBEVIRT_API_VERSION = `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`;
export const VMI_PLURAL = 'virtualmachineinstances';
export const VM_PLURAL = 'virtualmachines';
export const VMIRS_PLURAL = 'virtualmachineinstancereplicasets';

export const LABEL_APP = 'kubevirt.io'; // value 'virt-launcher' on launcher pods
export const LAUNCHER_APP = 'virt-launcher';
export const LABEL_CREATED_BY = 'kubevirt.io/created-by'; // launcher pod → VMI uid
export const LABEL_VM_NAME = 'vm.kubevirt.io/name'; // launcher pod → VMI name
export const LABEL_NODE_NAME = 'kubevirt.io/nodeName'; // on the VMI, once scheduled
export const LABEL_HOSTNAME = 'kubernetes.io/hostname';
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const ENDPOINTSLICE_MANAGER = 'endpointslice-controller.k8s.io';

export const ANNOTATION_DOMAIN = 'kubevirt.io/domain';
/** Test-bed only: pins a VMI to a node (alternative to nodeSelector kubernetes.io/hostname). */
export const ANNOTATION_TEST_NODE = 'vmprobe.test/node';
/** Test-bed only: extra ports the simulated VM listens on, comma-separated ("8080,8081"). */
export const ANNOTATION_TEST_HTTP_PORTS = 'vmprobe.test/http-ports';
export const ANNOTATION_TEST_HTTPS_PORTS = 'vmprobe.test/https-ports';
export const ANNOTATION_TEST_TCP_PORTS = 'vmprobe.test/tcp-ports';
/** Test-bed only: the simulated VM's initial behaviour, JSON of VmBehaviour. */
export const ANNOTATION_TEST_BEHAVIOUR = 'vmprobe.test/behaviour';

/** KubeVirt's own readiness gate on launcher pods: False while the VMI is paused. */
export const GATE_UNPAUSED = 'kubevirt.io/virtual-machine-unpaused';
/** vmprobe's gate (design §4): listed, when the test cluster enables it, on pods of VMIs with a readiness probe. */
export const GATE_VMPROBE = 'vmprobe.io/ReadinessProbe';

/** The port the seed VMIs' cloud-init HTTP server listens on. */
export const SEED_HTTP_PORT = 1500;

export const COMPUTE_CONTAINER = 'compute';
export const LAUNCHER_IMAGE = 'quay.io/kubevirt/virt-launcher:v1.3.0';
