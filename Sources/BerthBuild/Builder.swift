#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthEngine
import BerthExecutor
import BerthImage
import BerthModels
import BerthRegistry
import BerthStore
import BerthSystem
import Foundation

/// What `POST /build` asks for.
public struct BuildOptions: Sendable {
    public var tags: [String] = []
    public var dockerfile = "Dockerfile"
    /// `--build-arg`s (a nil value: taken from nowhere; the ARG's default applies).
    public var buildArgs: [String: String] = [:]
    public var target: String? = nil
    public var labels: [String: String] = [:]
    public var noCache = false
    public var quiet = false
    /// What RUN containers get: the build's network mode, extra hosts, shm size and limits.
    public var runHostConfig = HostConfig()
    /// `--pull`: FROM images are pulled even when present (a missing one always is).
    public var pull = false
    /// Registry credentials by registry (`X-Registry-Config`), as the base64 header text.
    public var registryConfig: String? = nil
    /// `--cache-from`: images whose history may stand for steps of this build.
    public var cacheFrom: [String] = []
    /// `--rm=false`: RUN containers are kept (and listed), unless `--force-rm`.
    public var keepContainers = false
    public var forceRemove = false
    public init() {}
}

/// The classic builder: each instruction of the stages the target needs becomes an image, RUN
/// in a container of the engine, COPY/ADD as a layer made from the files themselves, the rest
/// as configuration only; output on the wire as dockerd's classic builder writes it.
public final class Builder: Sendable {
    let engine: Engine
    public init(engine: Engine) { self.engine = engine }

    /// A stage as it is built: its image so far and what the next step starts from.
    struct State {
        var id: String?
        var file: ImageConfigFile
        var args: [String: String] = [:]
        /// Whether this stage gave a CMD (an ENTRYPOINT then keeps it).
        var cmdSet = false
        var config: ContainerConfig { get { file.config ?? ContainerConfig() } set { file.config = newValue } }
    }

    struct StepError: Error, CustomStringConvertible {
        let description: String
    }

    /// Builds from an unpacked context; returns the image id.
    public func build(context: String, sums: ContextSums, dockerfile text: String, options: BuildOptions, out: ProgressSink) async throws -> String {
        let d: Dockerfile
        do { d = try Dockerfile(parsing: text) } catch var e as Dockerfile.ParseError {
            // dockerd names the file it could not parse (`-f`).
            if e.kind == .syntax { e.kind = .plain; e.message = "failed to parse \(options.dockerfile): " + e.message }
            if e.message == "the Dockerfile (Dockerfile) cannot be empty" { e.message = "the Dockerfile (\(options.dockerfile)) cannot be empty" }
            throw e
        }
        let plan = try BuildPlan(d)
        let cacheFrom = options.noCache ? nil : CacheFrom(options.cacheFrom.compactMap { name in
            guard let image = try? engine.imageStore.resolve(name), let file = try? engine.imageStore.config(image) else { return nil }
            return CacheFrom.Source(id: image.id, file: file)
        })
        let run = BuildRun(options: options, plan: plan, globals: try plan.globalArgValues(buildArgs: options.buildArgs),
                           sh: ShellWords(escape: d.escape), context: context, sums: sums, out: out, cacheFrom: cacheFrom)
        do {
            return try await build(d, run)
        } catch {
            run.failed()
            throw error
        }
    }

    func build(_ d: Dockerfile, _ run: BuildRun) async throws -> String {
        let (plan, options) = (run.plan, run.options)
        for w in d.warnings { run.say("[WARNING]: \(w)\n") }
        let needed = try plan.needed(target: options.target, buildArgs: options.buildArgs)
        let total = plan.globalArgs.count + needed.reduce(0) { $0 + 1 + plan.stages[$1].instructions.count }
        var step = 0
        // The ARGs before the first FROM are steps too in dockerd's count.
        for a in plan.globalArgs {
            step += 1
            run.say("Step \(step)/\(total) : \(a.original)\n")
        }
        var last: State? = nil
        for index in needed {
            let stage = plan.stages[index]
            // A name used twice: dockerd finds it when it reaches the second stage.
            if let name = stage.name, plan.stages.prefix(index).contains(where: { $0.name == name }) {
                throw BerthError.invalid("\(name) stage name already used")
            }
            step += 1
            run.say("Step \(step)/\(total) : \(stage.from.original)\n")
            let baseName = try run.sh.expand(stage.base, env: run.globals)
            var state: State
            if let dep = plan.stage(baseName, before: index), let s = run.built[dep] {
                state = State(id: s.id, file: s.file)
            } else if baseName.lowercased() == "scratch" {
                var file = ImageConfigFile(rootfs: .init(type: "layers", diff_ids: []))
                file.architecture = "amd64"; file.os = "linux"; file.config = ContainerConfig(); file.history = []
                state = State(id: nil, file: file)
            } else {
                let image = try await baseImage(baseName, run)
                state = State(id: image.id, file: try engine.imageStore.config(image))
            }
            run.say(" ---> \(state.id.map(Self.short) ?? "")\n")
            // The base image's ONBUILD triggers run first (and are not inherited further).
            let triggers = state.config.OnBuild ?? []
            if !triggers.isEmpty {
                state.config.OnBuild = nil
                run.say("# Executing \(triggers.count) build trigger\(triggers.count == 1 ? "" : "s")\n")
                for t in triggers {
                    let inst = try Dockerfile.instruction(t, line: stage.from.line)
                    guard !["onbuild", "from", "maintainer"].contains(inst.keyword) else {
                        throw BerthError.invalid("\(inst.keyword.uppercased()) isn't allowed as an ONBUILD trigger")
                    }
                    try await self.step(inst, &state, stage: index, run)
                }
            }
            for inst in stage.instructions {
                try Task.checkCancellation()
                step += 1
                run.say("Step \(step)/\(total) : \(inst.original)\n")
                do {
                    try await self.step(inst, &state, stage: index, run)
                } catch let e as BerthError {
                    throw e
                } catch {
                    throw BerthError.invalid("\(error)")
                }
                if let id = state.id { run.say(" ---> \(Self.short(id))\n") }
            }
            run.built[index] = state
            last = state
        }
        guard var final = last else { throw BerthError.invalid("no build stage in current context") }
        if !options.labels.isEmpty {
            final.config.Labels = (final.config.Labels ?? [:]).merging(options.labels) { _, b in b }
            try await commitConfig(&final, createdBy: "LABEL " + options.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "), run)
        }
        // Build args no ARG of the built stages declared (dockerd's warning, after the steps).
        var declared = Set(Self.proxyArgs)
        for a in plan.globalArgs + needed.flatMap({ plan.stages[$0].instructions.filter { $0.keyword == "arg" } }) {
            for w in (a.args.first ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }) { declared.insert(String(w.prefix { $0 != "=" })) }
        }
        let unused = options.buildArgs.keys.filter { !declared.contains($0) }.sorted()
        if !unused.isEmpty { run.say("[Warning] One or more build-args \(GoText.list(unused)) were not consumed\n") }
        guard let id = final.id else { throw BerthError.invalid("the build produced no image (an empty scratch stage)") }
        run.out.aux(.object(["ID": .string(id)]), progressDetail: false)
        if options.quiet { run.out.stream(id + "\n") } else { run.out.stream("Successfully built \(Self.short(id))\n") }
        for t in options.tags {
            let ref = try ImageReference(parse: t)
            try await engine.imageStore.tag(id, repo: ref.familiarName, tag: ref.tag)
            if !options.quiet { run.out.stream("Successfully tagged \(ref.familiar)\n") }
        }
        return id
    }

    /// A FROM image: the local one, or pulled when missing (or with `--pull`), progress in the
    /// build's output as dockerd shows it.
    func baseImage(_ name: String, _ run: BuildRun) async throws -> ImageRecord {
        let options = run.options
        if !options.pull, let image = try? engine.imageStore.resolve(name) { return image }
        let ref = try ImageReference(parse: name)
        let auth = AuthConfig.fromConfigHeader(options.registryConfig, domain: ref.domain)
        do {
            let plan = try await engine.pulls.prepare(name, auth: auth)
            _ = try await engine.pulls.run(plan, sink: run.out, summary: true)
        } catch {
            // `--pull` with the image present and the registry out of reach: the local one, as dockerd.
            if options.pull, let image = try? engine.imageStore.resolve(name) { return image }
            throw error
        }
        return try engine.imageStore.resolve(name)
    }

    /// A path inside the image, cleaned (`..` stops at the root).
    static func absolute(_ path: String) -> String { "/" + (cleanArchivePath(path, clamp: true) ?? "") }

    static func short(_ id: String) -> String { String(id.split(separator: ":").last?.prefix(12) ?? "") }

    // MARK: instructions

    /// One instruction over `state`. The cache key is the parent image, the instruction and the
    /// build args in effect (COPY and ADD add the checksums of their files).
    func step(_ inst: Dockerfile.Instruction, _ state: inout State, stage: Int, _ run: BuildRun) async throws {
        var env: [String: String] = [:]
        for e in state.config.Env ?? [] {
            let p = e.split(separator: "=", maxSplits: 1).map(String.init)
            env[p[0]] = p.count > 1 ? p[1] : ""
        }
        for (k, v) in state.args where env[k] == nil { env[k] = v }
        let arg = inst.args.first ?? ""
        if inst.keyword == "cmd" && !(inst.json ? inst.args.isEmpty : arg.isEmpty) { state.cmdSet = true }
        // An ARG's value is in effect from here on, and is part of this step's cache key.
        if inst.keyword == "arg" {
            let name = String(arg.prefix { $0 != "=" })
            if let v = run.options.buildArgs[name] { state.args[name] = v }
            else if let eq = arg.firstIndex(of: "=") { state.args[name] = try run.sh.expand(String(arg[arg.index(after: eq)...]), env: env) }
            else if let g = run.globals[name] { state.args[name] = g }
        }
        let cacheBase = (state.id ?? "scratch") + "\u{1}" + inst.original + "\u{1}"
            + state.args.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1}")
        if inst.keyword == "copy" || inst.keyword == "add" {
            try await copyStep(inst, &state, stage: stage, env: env, cacheBase: cacheBase, run)
            return
        }
        let key = Self.cacheKey(cacheBase)
        if try useCache(key, &state, run) { return }
        switch inst.keyword {
        case "run":
            try await runStep(inst, &state, run)
        case "workdir":
            var dir = try run.sh.expand(arg, env: env)
            if !dir.hasPrefix("/") { dir = ((state.config.WorkingDir ?? "/") as NSString).appendingPathComponent(dir) }
            state.config.WorkingDir = Self.absolute(dir)
            try await workdir(&state, createdBy: Self.nop(state.config, "WORKDIR " + Self.absolute(dir), wide: false), run)
        default:
            var c = state.config
            let text = try configure(inst, &c, author: &state.file.author, env: env, arg: arg, cmdSet: state.cmdSet, run)
            state.config = c
            try await commitConfig(&state, createdBy: Self.nop(c, text), run)
        }
        if let id = state.id { try? engine.store.recordBuildStep(key, image: id, at: Timestamp.nowNanos()) }
    }

    static func cacheKey(_ text: String) -> String { Digest.sha256(Array(text.utf8)).description }

    /// A step made before: its image becomes the state (" ---> Using cache").
    func useCache(_ key: String, _ state: inout State, _ run: BuildRun) throws -> Bool {
        guard !run.options.noCache, let id = try engine.store.cachedBuildStep(key), let image = try? engine.imageStore.resolve(id) else { return false }
        try? engine.store.touchBuildStep(key, at: Timestamp.nowNanos())
        state.id = id
        state.file = try engine.imageStore.config(image)
        run.say(" ---> Using cache\n")
        return true
    }

    /// A configuration-only instruction applied to `c`; returns its history text (without the
    /// `#(nop)` prefix).
    func configure(_ inst: Dockerfile.Instruction, _ c: inout ContainerConfig, author: inout String?, env: [String: String],
                   arg: String, cmdSet: Bool, _ run: BuildRun) throws -> String {
        let sh = run.sh
        switch inst.keyword {
        case "arg":
            return "ARG " + arg
        case "env":
            var list = c.Env ?? []
            var text = "ENV"
            for (k, v) in try sh.pairs(arg, env: env, keyword: "env") {
                text += " " + k + "=" + v
                if let i = list.firstIndex(where: { $0.hasPrefix(k + "=") || $0 == k }) { list[i] = k + "=" + v } else { list.append(k + "=" + v) }
            }
            c.Env = list
            return text
        case "label":
            var labels = c.Labels ?? [:]
            var text = "LABEL"
            for (k, v) in try sh.pairs(arg, env: env, keyword: "label") { labels[k] = v; text += " " + k + "=" + v }
            c.Labels = labels
            return text
        case "maintainer":
            author = arg
            return "MAINTAINER " + arg
        case "expose":
            var ports = c.ExposedPorts ?? [:]
            let words = try sh.words(arg, env: env)
            for p in words { for port in try Self.exposedPorts(p) { ports[port] = EmptyObject() } }
            c.ExposedPorts = ports
            return "EXPOSE " + words.joined(separator: " ")
        case "volume":
            var vols = c.Volumes ?? [:]
            let added = inst.json ? inst.args : try sh.words(arg, env: env)
            for v in added { vols[v] = EmptyObject() }
            c.Volumes = vols
            return "VOLUME " + GoText.list(added)
        case "user":
            c.User = try sh.expand(arg, env: env)
            return "USER " + (c.User ?? "")
        case "stopsignal":
            c.StopSignal = try sh.expand(arg, env: env)
            _ = try Signals.parse(c.StopSignal ?? "")
            return "STOPSIGNAL " + (c.StopSignal ?? "")
        case "shell":
            guard inst.json else { throw StepError(description: "SHELL requires the arguments to be in JSON form") }
            c.Shell = inst.args
            return "SHELL " + GoText.list(inst.args)
        case "cmd", "entrypoint":
            let list = inst.json ? inst.args : (c.Shell ?? ["/bin/sh", "-c"]) + [arg]
            if inst.keyword == "cmd" {
                c.Cmd = list
            } else {
                c.Entrypoint = list
                // An ENTRYPOINT drops the CMD unless this stage set one.
                if !cmdSet { c.Cmd = nil }
            }
            return inst.keyword.uppercased() + " " + GoText.quoteList(list)
        case "onbuild":
            c.OnBuild = (c.OnBuild ?? []) + [arg]
            return "ONBUILD " + arg
        case "healthcheck":
            if let old = c.Healthcheck?.Test, let first = old.first, first != "NONE" {
                run.say("Note: overriding previous HEALTHCHECK: \(GoText.list(old))\n")
            }
            try healthcheck(inst, &c)
            return "HEALTHCHECK " + GoText.healthcheck(c.Healthcheck ?? HealthcheckConfig())
        default:
            throw Dockerfile.ParseError(line: inst.line, message: "unknown instruction: \(inst.keyword.uppercased())")
        }
    }

    /// The comment a configuration step leaves in the history: the stage's shell, then `#(nop)`
    /// (dockerd writes two spaces after it for most instructions, one for WORKDIR, COPY and ADD).
    static func nop(_ c: ContainerConfig, _ text: String, wide: Bool = true) -> String {
        (c.Shell ?? ["/bin/sh", "-c"]).joined(separator: " ") + " #(nop) " + (wide ? " " : "") + text
    }

    /// Build args every build takes without an ARG (dockerd's predefined ones).
    static let proxyArgs = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                            "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]

    /// What dockerd's classic builder says of a flag only BuildKit implements.
    static func needsBuildKit(_ flag: String) -> String {
        "the --\(flag) option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
    }

    /// EXPOSE's words as ExposedPorts keys: `80`, `80/udp`, a range `8000-8002/tcp` (each port).
    static func exposedPorts(_ spec: String) throws -> [String] {
        let parts = spec.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let proto = parts.count > 1 ? parts[1].lowercased() : "tcp"
        guard ["tcp", "udp", "sctp"].contains(proto) else { throw StepError(description: "Invalid proto: \(parts[1])") }
        let range = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let lo = UInt16(range[0]), range.count == 1 || UInt16(range[1]) != nil else {
            throw StepError(description: "Invalid containerPort: \(parts[0])")
        }
        let hi = range.count > 1 ? UInt16(range[1])! : lo
        guard lo <= hi else { throw StepError(description: "Invalid containerPort: \(parts[0])") }
        guard Int(hi) - Int(lo) < 65536 else { return [] }
        return (lo...hi).map { "\($0)/\(proto)" }
    }

    func healthcheck(_ inst: Dockerfile.Instruction, _ c: inout ContainerConfig) throws {
        let rest = inst.args.first ?? ""
        if rest.trimmingCharacters(in: .whitespaces).uppercased() == "NONE" { c.Healthcheck = HealthcheckConfig(Test: ["NONE"]); return }
        guard rest.uppercased().hasPrefix("CMD") else { throw StepError(description: "Unknown type \"\(rest.prefix { $0 != " " })\" in HEALTHCHECK (try CMD)") }
        let body = rest.dropFirst(3).trimmingCharacters(in: .whitespaces)
        var hc = HealthcheckConfig(Test: [])
        if body.hasPrefix("["), let data = body.data(using: .utf8), let list = try? JSONDecoder().decode([String].self, from: data) {
            hc.Test = ["CMD"] + list
        } else {
            hc.Test = ["CMD-SHELL", body]
        }
        func duration(_ name: String) throws -> Int64? {
            guard let v = inst.flag(name) else { return nil }
            guard let ns = HealthDuration.parse(v) else { throw StepError(description: "invalid \(name) duration: \(v)") }
            return ns
        }
        hc.Interval = try duration("interval")
        hc.Timeout = try duration("timeout")
        hc.StartPeriod = try duration("start-period")
        hc.StartInterval = try duration("start-interval")
        if let r = inst.flag("retries") { hc.Retries = Int(r) }
        c.Healthcheck = hc
    }

    // MARK: images

    /// A step that changes only the configuration: a new image over the same layers.
    func commitConfig(_ state: inout State, createdBy: String, _ run: BuildRun) async throws {
        if try await fromCache(&state, createdBy: createdBy, run) { return }
        let now = Timestamp.rfc3339(nanos: Timestamp.nowNanos())
        var file = state.file
        file.created = now
        file.container_config = nil
        file.history = (file.history ?? []) + [.init(created: now, created_by: createdBy, empty_layer: true)]
        state.id = try await register(file, parent: state.id)
        state.file = file
    }

    func register(_ file: ImageConfigFile, parent: String?) async throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try await engine.imageStore.register(configBytes: Array(try enc.encode(file)), references: [], parent: parent ?? "").id
    }

    /// A new layer from a directory laid out as the image's root (`upper`), over the state's image.
    func commitLayer(_ upper: String, _ state: inout State, createdBy: String) async throws {
        let parentChain = Digest.chainIDs(state.file.rootfs.diff_ids).last
        // The staged directory becomes the layer itself (moved, not unpacked again).
        let diff = try await engine.imageStore.commitLayer(from: upper, parentChain: parentChain, overlayUpper: false, adopt: true)
        var file = state.file
        file.rootfs.diff_ids.append(diff)
        let now = Timestamp.rfc3339(nanos: Timestamp.nowNanos())
        file.created = now
        file.history = (file.history ?? []) + [.init(created: now, created_by: createdBy)]
        let chain = Digest.chainIDs(file.rootfs.diff_ids).last!
        defer { Task { await engine.imageStore.unpin([chain]) } }
        state.id = try await register(file, parent: state.id)
        state.file = file
    }

    /// A step found in a `--cache-from` image: that image, or a new one made of the parent and
    /// the image's history entry (and layer) for the step, with the step's configuration.
    func fromCache(_ state: inout State, createdBy: String, _ run: BuildRun) async throws -> Bool {
        guard let cf = run.cacheFrom, !cf.isEmpty,
              let hit = cf.find(parent: state.id == nil ? nil : state.file, createdBy: createdBy) else { return false }
        switch hit {
        case .image(let id):
            if let parent = state.id { try engine.store.adoptImage(id, parent: parent) }
            state.id = id
            state.file = try engine.imageStore.config(try engine.imageStore.resolve(id))
        case .entry(let entry, let layer, let source):
            var file = state.file
            file.history = (file.history ?? []) + [entry]
            if let layer { file.rootfs.diff_ids.append(layer) }
            file.created = entry.created
            file.author = source.author
            file.architecture = source.architecture
            file.os = source.os
            file.container_config = nil
            state.id = try await register(file, parent: state.id)
            state.file = file
        }
        run.say(" ---> Using cache\n")
        return true
    }

    /// WORKDIR: the directory is made (a layer) unless the image has it already.
    func workdir(_ state: inout State, createdBy: String, _ run: BuildRun) async throws {
        if try await fromCache(&state, createdBy: createdBy, run) { return }
        let dir = state.config.WorkingDir ?? "/"
        let layers = (try? state.id.map { try engine.imageStore.layerPaths($0) } ?? []) ?? []
        if dir == "/" || layers.contains(where: { FS.isDirectory($0 + dir) }) { try await commitConfig(&state, createdBy: createdBy, run); return }
        let upper = try staging()
        defer { FS.removeAll(upper) }
        try FS.mkdirAll(upper + dir, mode: 0o755)
        try await commitLayer(upper, &state, createdBy: createdBy)
    }

    func staging() throws -> String {
        let dir = engine.config.dataRoot + "/tmp/build-" + String(Identifier.random64().prefix(16))
        try FS.mkdirAll(dir, mode: 0o755)
        return dir
    }

    // MARK: RUN

    func runStep(_ inst: Dockerfile.Instruction, _ state: inout State, _ run: BuildRun) async throws {
        let options = run.options
        guard let image = state.id else {
            // An empty stage has no shell or program to run (what runc says, as with dockerd).
            let exe = inst.json ? (inst.args.first ?? "") : (state.config.Shell ?? ["/bin/sh"])[0]
            throw StepError(description: "failed to create task for container: OCI runtime create failed: runc create failed: unable to start container process: exec: \"\(exe)\": stat \(exe): no such file or directory: unknown")
        }
        for f in inst.flags { throw StepError(description: Self.needsBuildKit(f.name)) }
        // A RUN without a command runs the bare shell (which then fails, as with dockerd).
        let text = inst.args.first ?? ""
        let cmd = inst.json ? inst.args : (state.config.Shell ?? ["/bin/sh", "-c"]) + (text.isEmpty ? [] : [text])
        var config = state.config
        config.Image = image
        config.Cmd = cmd
        config.Entrypoint = []
        // ARGs reach the command as variables (the image's own variables win).
        let own = Set((config.Env ?? []).map { String($0.split(separator: "=", maxSplits: 1)[0]) })
        let argEnv = state.args.filter { !own.contains($0.key) }.map { "\($0.key)=\($0.value)" }.sorted()
        // The proxy variables are build args without an ARG; the history leaves them out
        // (dockerd still writes the `|N` count once any build arg reaches the step).
        let proxies = Self.proxyArgs.filter { options.buildArgs[$0] != nil && state.args[$0] == nil && !own.contains($0) }
            .map { "\($0)=\(options.buildArgs[$0]!)" }
        config.Env = (config.Env ?? []) + (argEnv + proxies).sorted()
        let shown = inst.json ? inst.args.joined(separator: " ") : cmd.joined(separator: " ")
        let createdBy = (argEnv.isEmpty && proxies.isEmpty ? "" : (["|\(argEnv.count)"] + argEnv).joined(separator: " ") + " ") + shown
        if try await fromCache(&state, createdBy: createdBy, run) { return }
        config.AttachStdout = true; config.AttachStderr = true
        // Step containers are hidden and cleaned after a crash, unless the build keeps them.
        let keep = options.keepContainers && !options.forceRemove
        if !keep { config.Labels = (config.Labels ?? [:]).merging([ContainerService.buildStepLabel: ""]) { a, _ in a } }
        let containers = engine.containers
        let created = try await containers.create(name: nil, body: ContainerCreateBody(config: config, hostConfig: options.runHostConfig))
        let id = created.Id
        run.say(" ---> Running in \(Self.short(id))\n")
        // A build given up (the client went away) stops its step container at once.
        try await withTaskCancellationHandler {
            try await runContainer(id, shown: shown, createdBy: createdBy, keep: keep, &state, run)
        } onCancel: {
            Task { try? await containers.remove(id, force: true) }
        }
    }

    func runContainer(_ id: String, shown: String, createdBy: String, keep: Bool, _ state: inout State,
                      _ run: BuildRun) async throws {
        let containers = engine.containers
        do {
            _ = try await containers.start(id)
            // The step's output as it comes, a line at a time; what it writes to stderr is marked
            // red as dockerd marks it (ANSI 91).
            var opts = ContainerLog.Options()
            opts.tty = false
            var pending: [UInt8] = []
            var lines = [UInt8: String]()
            func emit(_ stream: UInt8, _ text: String) { run.say(stream == 2 ? "\u{1b}[91m" + text + "\u{1b}[0m" : text) }
            for try await chunk in try containers.logs(id, options: opts, follow: true, framed: true).chunks {
                pending += chunk
                let (frames, rest) = StdCopy.parse(pending)
                pending = rest
                for (stream, payload) in frames {
                    var text = lines[stream, default: ""] + String(decoding: payload, as: UTF8.self)
                    while let nl = text.firstIndex(of: "\n") {
                        emit(stream, String(text[...nl]))
                        text = String(text[text.index(after: nl)...])
                    }
                    // A step that never ends a line is passed on in pieces, not held without bound.
                    if text.utf8.count > 64 * 1024 { emit(stream, text); text = "" }
                    lines[stream] = text
                }
            }
            for (stream, text) in lines.sorted(by: { $0.key < $1.key }) where !text.isEmpty { emit(stream, text + "\n") }
            let exit = try await containers.wait(id, condition: "not-running")
            guard exit.code == 0 else {
                throw BerthError.invalid("The command '\(shown)' returned a non-zero code: \(exit.code)")
            }
            let newID = try await containers.commitForBuild(id, config: state.config, createdBy: createdBy, adopt: !keep)
            state.id = newID
            state.file = try engine.imageStore.config(try engine.imageStore.resolve(newID))
        } catch {
            if !keep || Task.isCancelled { try? await containers.remove(id, force: true) }
            throw error
        }
        guard !keep else { return }
        run.say("Removing intermediate container \(Self.short(id))\n")
        try? await containers.remove(id, force: true)
    }

    // MARK: COPY and ADD

    func copyStep(_ inst: Dockerfile.Instruction, _ state: inout State, stage: Int, env: [String: String], cacheBase: String,
                  _ run: BuildRun) async throws {
        let (sh, context, sums, options) = (run.sh, run.context, run.sums, run.options)
        var words = inst.json ? inst.args : try sh.words(inst.args.first ?? "", env: env)
        guard words.count >= 2 else { throw StepError(description: "\(inst.keyword.uppercased()) requires at least two arguments, but only one was provided. Destination could not be determined.") }
        let rawDest = words.removeLast()
        var dest = rawDest
        let sources = words
        let destIsDir = dest.hasSuffix("/") || sources.count > 1
        if !dest.hasPrefix("/") { dest = ((state.config.WorkingDir ?? "/") as NSString).appendingPathComponent(dest) + (dest.hasSuffix("/") ? "/" : "") }
        for f in inst.flags where !["from", "chown", "chmod"].contains(f.name) { throw StepError(description: Self.needsBuildKit(f.name)) }
        let chown = inst.flag("chown")
        let owner = try chown.map { try ownership($0, state: state) }
        let spool = try staging()   // downloads and another image's files
        defer { FS.removeAll(spool) }
        // Where each source's files are, and what dockerd calls them (the history text and the
        // cache key are made from that before anything is copied).
        var items: [(root: String, rel: String, extract: Bool, hash: String)] = []
        if let from = inst.flag("from") {
            let image: String
            if let dep = run.plan.stage(from, before: stage) {
                guard let id = run.built[dep]?.id else { throw StepError(description: "stage \(from) has no image") }
                image = id
            } else {
                // Another image, pulled when missing; dockerd names the flag when that fails.
                do { image = try await baseImage(from, run).id } catch {
                    throw StepError(description: "invalid from flag value \(from): \(BerthError.wrap(error).message)")
                }
            }
            let root = spool + "/image"
            let imageSums = ContextSums(lazy: true, blankNames: false)
            for src in sources {
                let clean = cleanArchivePath(src, clamp: true) ?? ""
                let parts = clean.split(separator: "/").map(String.init)
                guard let w = parts.firstIndex(where: { $0.contains(where: { "*?[".contains($0) }) }) else {
                    let rel = try await fetchFromImage(image, path: src, into: root)
                    items.append((root, rel, false, imageSums.sourceHash(root: root, rel)))
                    continue
                }
                // A pattern: the directory above its first wildcard is fetched, then matched.
                _ = try await fetchFromImage(image, path: "/" + parts[..<w].joined(separator: "/"), into: root)
                for m in try contextMatches(root, clean) { items.append((root, m, false, imageSums.sourceHash(root: root, m))) }
            }
            guard !items.isEmpty else { throw StepError(description: "COPY failed: no source files were specified") }
        } else {
            for src in sources {
                if inst.keyword == "add" && (src.hasPrefix("http://") || src.hasPrefix("https://")) {
                    // ADD of a URL: the file as downloaded (never unpacked), mode 0600 as dockerd.
                    var name = URL(string: src)?.lastPathComponent ?? ""
                    if name.isEmpty || name == "/" {
                        guard !rawDest.hasSuffix("/") else { throw StepError(description: "cannot determine filename for source \(src)") }
                        name = "__unnamed__"
                    }
                    let dir = spool + "/url-\(items.count)"
                    try FS.mkdirAll(dir)
                    // The download's progress, then a blank line, as dockerd writes them.
                    let out = options.quiet ? nil : run.out
                    try await RemoteContext.download(src, to: dir + "/" + name) { current, total in
                        out?.downloading(current: current, total: total)
                    }
                    out?.stream("\n")
                    _ = chmod(dir + "/" + name, 0o600)
                    items.append((dir, name, false, ContextSums(lazy: true, blankNames: false).hash(root: dir, name)))
                    continue
                }
                let matches = try contextMatches(context, src)
                if matches.isEmpty && src.contains(where: { "*?[".contains($0) }) { continue }
                guard !matches.isEmpty else { throw StepError(description: "COPY failed: file not found in build context or excluded by .dockerignore: stat \(src): file does not exist") }
                for m in matches { items.append((context, m, inst.keyword == "add", sums.sourceHash(root: context, m))) }
            }
        }
        guard !items.isEmpty else { throw StepError(description: "\(inst.keyword.uppercased()) failed: no source files were specified") }
        let srcHash = items.count == 1 ? items[0].hash : ContextSums.hashList("multi", items.map(\.hash))
        var flags = ""
        if let chown { flags += "--chown=\(chown) " }
        if let chmod = inst.flag("chmod") { flags += "--chmod=\(chmod) " }
        let createdBy = Self.nop(state.config, "\(inst.keyword.uppercased()) \(flags)\(srcHash) in \(rawDest) ", wide: false)
        let key = Self.cacheKey(cacheBase + "\u{1}" + createdBy)
        if try useCache(key, &state, run) { return }
        if try await fromCache(&state, createdBy: createdBy, run) {
            if let id = state.id { try? engine.store.recordBuildStep(key, image: id, at: Timestamp.nowNanos()) }
            return
        }
        let upper = try staging()
        defer { FS.removeAll(upper) }
        let target = upper + Self.absolute(dest)
        // Files from the context or a download become root's (the client's owners mean nothing
        // in the image); another image's keep theirs, as do an archive's that ADD unpacks.
        let fromImage = inst.flag("from") != nil
        for item in items {
            try copyFromContext(root: item.root, item.rel, to: target, destIsDir: destIsDir, mayExtract: item.extract,
                                owner: fromImage ? nil : (0, 0))
        }
        if let owner { try Self.chownTree(upper + Self.absolute(dest), owner) }
        if let mode = inst.flag("chmod"), let m = mode_t(mode, radix: 8) { try Self.chmodTree(upper + Self.absolute(dest), m) }
        try await commitLayer(upper, &state, createdBy: createdBy)
        if let id = state.id { try? engine.store.recordBuildStep(key, image: id, at: Timestamp.nowNanos()) }
    }

    /// Context paths a source names: itself, or what its wildcards match (`filepath.Match`).
    func contextMatches(_ context: String, _ src: String) throws -> [String] {
        let clean = Substring(cleanArchivePath(src, clamp: true) ?? "")   // relative, no `..` out of the context
        if !clean.contains(where: { "*?[".contains($0) }) { return FS.exists(context + "/" + clean) || clean.isEmpty ? [String(clean)] : [] }
        let matcher = try DockerIgnore(String(clean))
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: context)
        while let p = e?.nextObject() as? String {
            if matcher.matchesExactly(p) { out.append(p); e?.skipDescendants() }
        }
        return out.sorted()
    }

    /// Copies the context entry `rel` (resolved inside `root`: a link in the context cannot lead
    /// out of it) to `target` — a directory's contents into it, a file to it or into it — or,
    /// for ADD, unpacks it there when it is a tar archive.
    func copyFromContext(root: String, _ rel: String, to target: String, destIsDir: Bool, mayExtract: Bool,
                         owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        let parts = rel.split(separator: "/").map(String.init)
        let parentPath = parts.dropLast().joined(separator: "/")
        let leaf = parts.last ?? ""
        let parent = try ContainerFiles.open(root: root, path: parentPath.isEmpty ? "/" : parentPath, flags: O_RDONLY | O_DIRECTORY, follow: true)
        defer { close(parent) }
        if leaf.isEmpty || leaf == "." {
            try FS.mkdirAll(target)
            let dst = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dst >= 0 else { throw StepError(description: "open \(target): \(Syscall.errnoText())") }
            defer { close(dst) }
            try VolumeCopy.copyTree(parent, dst, owner: owner)
            return
        }
        var st = stat()
        guard fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw StepError(description: "stat \(rel): \(Syscall.errnoText())") }
        if st.st_mode & S_IFMT == S_IFDIR {
            try FS.mkdirAll(target)
            let src = openat(parent, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let dst = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            defer { Syscall.closeQuietly(src); Syscall.closeQuietly(dst) }
            guard src >= 0, dst >= 0 else { throw StepError(description: "open \(rel): \(Syscall.errnoText())") }
            try VolumeCopy.copyTree(src, dst, owner: owner)
            return
        }
        if mayExtract && st.st_mode & S_IFMT == S_IFREG {
            let fd = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw StepError(description: "open \(rel): \(Syscall.errnoText())") }
            defer { close(fd) }
            if Self.isArchive(fd) {
                try FS.mkdirAll(target)
                try Self.unpack(fd, into: target, limit: engine.config.expansionLimit)
                return
            }
        }
        let file = destIsDir || target.hasSuffix("/") ? target + "/" + leaf : target
        try FS.mkdirAll((file as NSString).deletingLastPathComponent)
        let dparent = open((file as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dparent >= 0 else { throw StepError(description: "open \(file): \(Syscall.errnoText())") }
        defer { close(dparent) }
        try VolumeCopy.copyEntry(parent, leaf, dparent, (file as NSString).lastPathComponent, owner: owner)
    }

    /// Whether the file open at `fd` is a tar archive (plain, gzip, bzip2 or xz).
    public static func isArchive(_ fd: Int32) -> Bool {
        var head = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &head, 512, 0)
        if n >= 2 && Compression.isGzip(Array(head.prefix(2))) { return true }
        if decompressor(Array(head.prefix(max(0, n)))) != nil { return true }
        return n == 512 && Array(head[257..<262]) == Array("ustar".utf8)
    }

    /// bzip2 and xz contexts are decompressed by the system's tools (no shell; stdin to stdout).
    static func decompressor(_ head: [UInt8]) -> [String]? {
        if head.starts(with: Array("BZh".utf8)) { return ["bzip2", "-dc"] }
        if head.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return ["xz", "-dc"] }
        return nil
    }

    /// A bzip2 or xz file decompressed next to itself, at most `limit` bytes of it (a bomb is
    /// stopped there); the plain path, or the file itself when it is not compressed so.
    public static func decompressed(_ path: String, limit: Int64) async throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StepError(description: "open \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 6)
        let n = pread(fd, &head, 6, 0)
        guard n > 0, let tool = decompressor(Array(head.prefix(n))) else { return path }
        let plain = path + ".plain"
        let out = open(plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw StepError(description: "create \(plain): \(Syscall.errnoText())") }
        defer { close(out) }
        let pipe = try Syscall.pipe()
        let pid: pid_t
        do { pid = try Subprocess.spawn(tool, stdin: .fd(fd), stdout: .fd(pipe.write)) } catch {
            close(pipe.read); close(pipe.write); throw error
        }
        close(pipe.write)
        let ok = try await Blocking.run("berth-decompress") { () -> Bool in
            defer { close(pipe.read) }
            var total: Int64 = 0
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let r = buf.withUnsafeMutableBytes { read(pipe.read, $0.baseAddress, $0.count) }
                if r < 0 && errno == EINTR { continue }
                if r <= 0 { break }
                total += Int64(r)
                if total > limit { Syscall.kill(pid, SIGKILL); _ = Subprocess.waitStatus(pid); return false }
                try buf.withUnsafeBytes { try Syscall.writeAll(out, UnsafeRawBufferPointer(rebasing: $0[0..<r])) }
            }
            return Subprocess.waitStatus(pid) == 0
        }
        guard ok else {
            unlink(plain)
            throw BerthError.invalid("the build context could not be decompressed (\(tool[0]) failed, or it expands past \(limit) bytes)")
        }
        return plain
    }

    /// A tar (plain or gzip) open at `fd` unpacked confined to `dir`, expanding to at most `limit` bytes.
    public static func unpack(_ fd: Int32, into dir: String, limit: Int64, observer: (any TarEntryObserver)? = nil) throws {
        var head = [UInt8](repeating: 0, count: 2)
        _ = pread(fd, &head, 2, 0)
        var applier = LayerApplier(root: dir)
        applier.convertWhiteouts = false
        applier.preserveOwnership = true
        applier.observer = observer
        let rootFd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { throw StepError(description: "open \(dir): \(Syscall.errnoText())") }
        defer { close(rootFd) }
        if Compression.isGzip(head) {
            var r = TarReader(GuardedReader(try GzipReader(FileRangeReader(fd: fd)), limit: limit, cancel: nil, what: "the build context"))
            _ = try applier.apply(&r, rootFd: rootFd)
        } else {
            var r = TarReader(GuardedReader(FileRangeReader(fd: fd), limit: limit, cancel: nil, what: "the build context"))
            _ = try applier.apply(&r, rootFd: rootFd)
        }
    }

    /// A tar file (ours: a spooled body, an archive read from an image) unpacked into `dir`.
    public static func unpack(_ path: String, into dir: String, limit: Int64, observer: (any TarEntryObserver)? = nil) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StepError(description: "open \(path): \(Syscall.errnoText())") }
        defer { close(fd) }
        try unpack(fd, into: dir, limit: limit, observer: observer)
    }

    /// `COPY --from`: the path's tar from a container of `image` (never started), unpacked under
    /// `root` where the image has it; returns the path relative to `root`.
    func fetchFromImage(_ image: String, path: String, into root: String) async throws -> String {
        let containers = engine.containers
        var config = ContainerConfig()
        config.Image = image
        config.Cmd = ["/copy"]
        config.Entrypoint = []
        config.Labels = [ContainerService.buildStepLabel: ""]
        let id = try await containers.create(name: nil, body: ContainerCreateBody(config: config)).Id
        defer { Task { try? await containers.remove(id, force: true) } }
        let rel = cleanArchivePath(path, clamp: true) ?? ""
        let parent = rel.split(separator: "/").dropLast().joined(separator: "/")
        let tarPath = root + ".\(Identifier.random64().prefix(8)).tar"
        defer { unlink(tarPath) }
        let tar = try await containers.archiveGet(id, path: path).tar
        let fd = open(tarPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StepError(description: "create \(tarPath): \(Syscall.errnoText())") }
        defer { close(fd) }
        for try await chunk in tar { try chunk.withUnsafeBytes { try Syscall.writeAll(fd, $0) } }
        let into = parent.isEmpty ? root : root + "/" + parent
        try FS.mkdirAll(into)
        try Self.unpack(tarPath, into: into, limit: engine.config.expansionLimit)
        return rel
    }

    /// `--chown=user[:group]`: numbers, or names looked up in the image's /etc/passwd and /etc/group.
    func ownership(_ spec: String, state: State) throws -> (uid: uid_t, gid: gid_t) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let layers = (try? state.id.map { try engine.imageStore.layerPaths($0) } ?? []) ?? []
        func lookup(_ file: String, _ name: String) -> UInt32? {
            if let n = UInt32(name) { return n }
            for l in layers.reversed() {
                guard let text = FS.readText(l + "/etc/" + file) else { continue }
                for line in text.split(separator: "\n") {
                    let f = line.split(separator: ":", omittingEmptySubsequences: false)
                    if f.count > 2, f[0] == name, let id = UInt32(f[2]) { return id }
                }
                return nil
            }
            return nil
        }
        guard let uid = lookup("passwd", parts[0]) else { throw StepError(description: "unable to convert uid/gid chown string to host mapping: can't find uid for user \(parts[0]): no such user: \(parts[0])") }
        let gid = parts.count > 1 ? lookup("group", parts[1]) : (UInt32(parts[0]) ?? uid)
        guard let gid else { throw StepError(description: "unable to convert uid/gid chown string to host mapping: can't find gid for group \(parts[1]): no such group: \(parts[1])") }
        return (uid, gid)
    }

    static func chownTree(_ path: String, _ o: (uid: uid_t, gid: gid_t)) throws {
        _ = lchown(path, o.uid, o.gid)
        guard FS.isDirectory(path) && !FS.isSymlink(path) else { return }
        let e = FileManager.default.enumerator(atPath: path)
        while let p = e?.nextObject() as? String { _ = lchown(path + "/" + p, o.uid, o.gid) }
    }

    static func chmodTree(_ path: String, _ mode: mode_t) throws {
        if !FS.isSymlink(path) { _ = chmod(path, mode) }
        guard FS.isDirectory(path) && !FS.isSymlink(path) else { return }
        let e = FileManager.default.enumerator(atPath: path)
        while let p = e?.nextObject() as? String {
            if !FS.isSymlink(path + "/" + p) { _ = chmod(path + "/" + p, mode) }
        }
    }
}


/// Go's duration syntax as HEALTHCHECK flags take it (`30s`, `1m30s`, `500ms`, `1.5h`), in nanoseconds.
enum HealthDuration {
    static let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
    static func parse(_ text: String) -> Int64? {
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        if rest == "0" { return 0 }
        var total = 0.0
        while !rest.isEmpty {
            let num = rest.prefix { $0.isNumber || $0 == "." }
            guard !num.isEmpty, let n = Double(num) else { return nil }
            rest = rest.dropFirst(num.count)
            guard let (u, f) = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count }) else { return nil }
            rest = rest.dropFirst(u.count)
            total += n * f
        }
        return total < 9.2e18 ? Int64(total) : nil
    }
}

/// A writer that keeps nothing (what is hashed only).
struct DiscardingWriter: ByteWriter {
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {}
}
