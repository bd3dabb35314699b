# ai-desktop-ops default policy set (Rego v1). Kept decision-for-decision identical to
# ../cedar/policies.cedar; policies/decision-table.json is run through both engines to prove it.
#
# Compiled to WebAssembly by scripts/build-rego.ts with two entrypoints:
#   aidops/authz/decision  input = one normalized request        -> {"allow", "reasons"}
#   aidops/authz/batch     input = {"requests": [normalized...]} -> [{"allow", "reasons"}, ...]
# Every rule is a function of the request `r`, so one wasm call can decide a whole batch.
# Reasons use concat (native in the wasm target) rather than sprintf (a JavaScript fallback).
package aidops.authz

# r.resource.path is normalized under the session's path profile before Rego sees it (case-folded
# for windows, drive removed: a root protects that folder on every drive), so roots are written
# here lower-case, `/`-separated. r.resource.volume (windows only) is for audit, not for matching.
protected_roots := ["/finance", "/secrets", "/hr"]

write_actions := {"fs_write", "fs_delete"}

world_writable := ["/tmp", "/var/tmp", "/dev/shm"]

under(path, root) if path == root

under(path, root) if startswith(path, concat("", [root, "/"]))

# The seed rule: writes under a protected tree need an approved scope for that tree.
protected_write(r) := {msg |
	r.action in write_actions
	some root in protected_roots
	under(r.resource.path, root)
	not concat("", ["write:", root]) in r.session.approvedScopes
	msg := concat("", ["write to protected path: ", r.resource.path])
}

# Egress only to allowlisted host:port pairs (data.egress_allowlist, from policies/data.json).
egress(r) := {msg |
	r.action == "net_connect"
	not r.resource.endpoint in data.egress_allowlist
	msg := concat("", ["egress to non-allowlisted endpoint: ", r.resource.endpoint])
}

plugin_matches(r) if {
	r.context.plugin.known
	r.context.plugin.pluginId == r.resource.pluginId
}

plugin_admitted(r) if {
	plugin_matches(r)
	r.context.plugin.admitted
}

plugin(r) := ((not_admitted | revoked) | expired) | mismatch if {
	not_admitted := {msg |
		r.action == "plugin_exec"
		not plugin_admitted(r)
		msg := concat("", ["plugin not admitted: ", r.resource.pluginId])
	}
	revoked := {msg |
		r.action == "plugin_exec"
		plugin_matches(r)
		r.context.plugin.revoked
		msg := concat("", ["plugin revoked: ", r.resource.pluginId])
	}
	expired := {msg |
		r.action == "plugin_exec"
		plugin_matches(r)
		r.context.plugin.expiresAtEpochS <= r.context.nowEpochS
		msg := concat("", ["plugin admission expired: ", r.resource.pluginId])
	}
	mismatch := {msg |
		r.action == "plugin_exec"
		plugin_matches(r)
		r.context.plugin.digest != r.resource.digest
		msg := concat("", ["plugin digest mismatch: ", r.resource.pluginId])
	}
}

# No credential leaves the vault before the session's attestation is verified.
credential(r) := {msg |
	r.action == "credential_use"
	r.context.attestation != "verified"
	msg := concat("", ["credential use before attestation verified: ", r.resource.secretName])
}

# Never execute from world-writable directories (write-then-exec staging).
spawn(r) := {msg |
	r.action == "process_spawn"
	some dir in world_writable
	startswith(r.resource.path, concat("", [dir, "/"]))
	msg := concat("", ["spawn from world-writable directory: ", r.resource.path])
}

# A capability switched off by a feature flag is denied everywhere.
switched_off(r) := {msg |
	r.action in r.context.disabled
	msg := concat("", ["capability switched off: ", r.action])
}

reasons(r) := ((((protected_write(r) | egress(r)) | plugin(r)) | credential(r)) | spawn(r)) | switched_off(r)

decide(r) := {"allow": count(rs) == 0, "reasons": sort(rs)} if {
	rs := reasons(r)
}

decision := decide(input)

batch := [d | some r in input.requests; d := decide(r)]
