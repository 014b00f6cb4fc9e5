@testable import BerthAPI
import BerthExecutor
import BerthModels
import BerthSystem
import Testing

/// The default seccomp profile as it is converted for a container, security options, device
/// rules, sysctls, and the plain-TCP Host guard.
@Suite struct ConfinementRulesTests {
    static let defaultCaps = Capabilities.dockerDefault

    func allowed(_ s: OCISpec.Seccomp) -> Set<String> {
        Set(s.syscalls.filter { $0.action == "SCMP_ACT_ALLOW" && ($0.args ?? []).isEmpty }.flatMap(\.names))
    }

    @Test func defaultProfileForDefaultCapabilities() {
        let s = SeccompProfile.dockerDefault.oci(capabilities: Self.defaultCaps)
        #expect(s.defaultAction == "SCMP_ACT_ERRNO" && s.defaultErrnoRet == 1)
        #if arch(x86_64)
        #expect(s.architectures.first == "SCMP_ARCH_X86_64" && s.architectures.contains("SCMP_ARCH_X86"))
        #endif
        let names = allowed(s)
        for n in ["read", "write", "execve", "clone3", "chroot", "arch_prctl", "ptrace"] where n != "clone3" {
            #expect(names.contains(n), "\(n) should be allowed")
        }
        for n in ["unshare", "mount", "keyctl", "add_key", "setns", "bpf", "reboot", "init_module", "open_by_handle_at"] {
            #expect(!names.contains(n), "\(n) should be refused")
        }
        // Without CAP_SYS_ADMIN: clone only without namespace flags, clone3 refused with ENOSYS.
        let clone = s.syscalls.filter { $0.names.contains("clone") }
        #expect(clone.count == 1 && clone[0].args?.first?.op == "SCMP_CMP_MASKED_EQ" && clone[0].args?.first?.value == 2114060288)
        #expect(s.syscalls.contains { $0.names == ["clone3"] && $0.action == "SCMP_ACT_ERRNO" && $0.errnoRet == 38 })
        // socket: everything but AF_ALG (38) and AF_VSOCK (40).
        #expect(s.syscalls.filter { $0.names == ["socket"] }.count == 3)
    }

    @Test func capabilitiesOpenTheirSyscalls() {
        let admin = allowed(SeccompProfile.dockerDefault.oci(capabilities: Self.defaultCaps + ["CAP_SYS_ADMIN"]))
        #expect(admin.contains("mount") && admin.contains("unshare") && admin.contains("clone") && admin.contains("setns"))
        let s = SeccompProfile.dockerDefault.oci(capabilities: Self.defaultCaps + ["CAP_SYS_ADMIN"])
        #expect(!s.syscalls.contains { $0.names == ["clone3"] && $0.action == "SCMP_ACT_ERRNO" })
        let time = allowed(SeccompProfile.dockerDefault.oci(capabilities: Self.defaultCaps + ["CAP_SYS_TIME"]))
        #expect(time.contains("settimeofday") && time.contains("clock_settime"))
    }

    @Test func securityOptions() throws {
        #expect(try SecurityOptions.parse(["no-new-privileges"]).noNewPrivileges)
        #expect(try SecurityOptions.parse(["no-new-privileges=false"]).noNewPrivileges == false)
        if case .unconfined = try SecurityOptions.parse(["seccomp=unconfined"]).seccomp {} else { Issue.record("not unconfined") }
        if case .unconfined = try SecurityOptions.parse(["seccomp:unconfined"]).seccomp {} else { Issue.record("colon form") }
        if case .custom = try SecurityOptions.parse([#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]).seccomp {} else { Issue.record("custom") }
        _ = try SecurityOptions.parse(["apparmor=unconfined", "label=disable"])
        for bad in ["nonsense", "foo=bar", "no-new-privileges=maybe", "seccomp={", #"seccomp={"defaultAction":"SCMP_ACT_NOPE"}"#] {
            #expect(throws: BerthError.self) { try SecurityOptions.parse([bad]) }
        }
    }

    @Test func deviceCgroupRules() throws {
        let r = try ContainerDevices.parseRule("c 1:5 rwm")
        #expect(r == .init(allow: true, type: "c", major: 1, minor: 5, access: "rwm"))
        #expect(try ContainerDevices.parseRule("a *:* r") == .init(allow: true, type: "a", major: nil, minor: nil, access: "r"))
        for bad in ["x 1:5 rwm", "c 1 rwm", "c 1:5 rwx", "c 1:5", "c -1:5 r", "c 99999999999:1 r", ""] {
            #expect(throws: BerthError.self) { try ContainerDevices.parseRule(bad) }
        }
    }

    @Test func sysctls() throws {
        try Sysctls.check(["net.ipv4.ip_forward": "1", "kernel.shmmax": "1", "fs.mqueue.msg_max": "1"], hostNetwork: false, hostIPC: false)
        #expect(throws: BerthError.self) { try Sysctls.check(["vm.swappiness": "1"], hostNetwork: false, hostIPC: false) }
        #expect(throws: BerthError.self) { try Sysctls.check(["net.ipv4.ip_forward": "1"], hostNetwork: true, hostIPC: false) }
        #expect(throws: BerthError.self) { try Sysctls.check(["kernel.sem": "1"], hostNetwork: false, hostIPC: true) }
    }

    @Test(arguments: [("127.0.0.1:2375", true), ("localhost", true), ("LOCALHOST:1", true), ("[::1]:2375", true), ("10.0.0.1", true),
                      (nil, true), ("evil.example", false), ("evil.example:2375", false), ("127.0.0.1.nip.io", false),
                      ("256.1.1.1", false), ("localhost.evil", false), ("[::1", false), ("1.2.3.4:x", false), ("٣.1.1.1", false)] as [(String?, Bool)])
    func hostGuard(_ host: String?, _ allowed: Bool) {
        #expect(HostGuard.allows(host) == allowed)
    }
}
