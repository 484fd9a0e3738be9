// The registry of doctor checks: adding one is one file plus this line.
import type { Check } from "../doctor.js";
import { fsIdentityMismatch } from "./fs-identity-mismatch.js";
import { fsidDuplicate } from "./fsid-duplicate.js";
import { fsidMismatch } from "./fsid-mismatch.js";
import { fsidMissing } from "./fsid-missing.js";
import { mountpointOption } from "./mountpoint-option.js";
import { exportsOutsideCluster } from "./exports-outside-cluster.js";
import { serverScopeMismatch } from "./server-scope-mismatch.js";
import { v4StateAtRisk } from "./v4-state-at-risk.js";
import { v4RecoveryLocal } from "./v4-recovery-local.js";
import { portsUnfixed } from "./ports-unfixed.js";
import { fhKeyMismatch } from "./fh-key-mismatch.js";
import { factsMissing } from "./facts-missing.js";
import { rmtabDamaged } from "./rmtab-damaged.js";
import { orderIpBeforeExport } from "./order-ip-before-export.js";
import { orderRmtabsync } from "./order-rmtabsync.js";
import { stopTimeoutTooShort } from "./stop-timeout-too-short.js";
import { exportOnTwoNodes } from "./export-on-two-nodes.js";

export const CHECKS: readonly Check[] = [
  fsidMissing,
  fsidMismatch,
  fsidDuplicate,
  fsIdentityMismatch,
  exportOnTwoNodes,
  orderIpBeforeExport,
  orderRmtabsync,
  exportsOutsideCluster,
  serverScopeMismatch,
  v4StateAtRisk,
  v4RecoveryLocal,
  portsUnfixed,
  fhKeyMismatch,
  factsMissing,
  rmtabDamaged,
  mountpointOption,
  stopTimeoutTooShort,
];
