import Magma
import MagmaProtocol
import MagmaRing
import MagmaWire

/// What applying a context command needs besides the context: the guest's resources (for
/// buffers and reply areas), the device (queries) and the fence being built, if any.
struct CommandScope {
    let resources: [UInt32: VirtioResource]
    let device: Device
    /// The guest's shares (`export_object`, `import_object`; a release drops its object's).
    let shares: ShareTable
    var pending: PendingFence?
    /// Where the guest's ring consumer sleeps (`create_ring` gives it to new rings).
    var ringSleeper: (any RingSleeper)? = nil
    /// The largest ring region `create_ring` accepts.
    var maxRingBytes = 0
    /// A `read_notification`'s or `sync_notifications`' reply area (at most one per SUBMIT_3D),
    /// and whether it is a sync.
    var notificationRead: (reply: ReplyTarget, isSync: Bool)?
}

extension HostContext {
    /// Applies one command of a SUBMIT_3D payload. A thrown error fails the context (sticky);
    /// a call's own refusal (a memory type, a heap, a budget) goes in its reply instead.
    func apply(_ command: VirtioContextCommand, _ scope: inout CommandScope) throws(MagmaError) {
        switch command {
        case .virtio(let message): try apply(message, &scope)
        case .primary(let message): try apply(message, &scope)
        }
    }

    /// Answers a call of a context that has failed with its error (a command of a failed
    /// context is not applied, but a guest waiting for a reply must learn why). Commands with
    /// no reply, and replies that cannot be written, are skipped.
    func answerFailed(_ command: VirtioContextCommand, _ error: MagmaError, _ scope: inout CommandScope) {
        guard case .virtio(let message) = command else { return }
        switch message {
        case .createBuffer(let m): try? target(m.reply, scope).writeStatus(error)
        case .flush(let m): try? target(m.reply, scope).writeStatus(error)
        case .getMemoryBudget(let m):
            try? target(m.reply, scope).write(VirtioContextProtocol.MemoryBudgetReply(status: error.status, budget: 0, usage: 0))
        case .query(let m): try? target(m.reply, scope).write(VirtioContextProtocol.QueryReply(failed: error.status))
        case .getSemaphoreState(let m): try? target(m.reply, scope).write(VirtioContextProtocol.ValueReply(status: error.status, value: 0))
        case .waitSemaphores(let m):
            if let reply = try? target(m.reply, scope) { scope.pending?.failureWatches.append(reply) }
        case .watchFailure(let m):
            if let reply = try? target(m.reply, scope) { scope.pending?.failureWatches.append(reply) }
        case .createRing(let m): try? target(m.reply, scope).writeStatus(error)
        case .exportObject(let m): try? target(m.reply, scope).writeStatus(error)
        case .importObject(let m): try? target(m.reply, scope).writeStatus(error)
        case .createSemaphore, .signalSemaphore, .resetSemaphore, .wakeRings: break
        case .createTimeline, .signalTimeline, .getTimelineState, .waitTimeline, .cancelTimelineWait:
            answerFailedTimeline(message, error, &scope)
        case .readNotification(let m):
            // Reads go on after a failure: its report comes after it.
            if scope.notificationRead == nil, let reply = try? target(m.reply, scope) { scope.notificationRead = (reply, false) }
        case .syncNotifications(let m):
            if scope.notificationRead == nil, let reply = try? target(m.reply, scope) { scope.notificationRead = (reply, true) }
        }
    }

    private func apply(_ message: VirtioContextProtocol.ClientMessage, _ scope: inout CommandScope) throws(MagmaError) {
        switch message {
        case .createBuffer(let m):
            let reply = try target(m.reply, scope)
            try checkNew(m.bufferId, in: buffers, "buffer")
            do {
                buffers[m.bufferId] = try makeBuffer(resourceId: m.resourceId, memoryType: m.memoryType, scope)
                try reply.writeStatus(nil)
            } catch where error.status == .invalidArgs || error.status == .memoryError || error.status == .unimplemented {
                try reply.writeStatus(error)
            }
        case .createSemaphore(let m):
            try checkNew(m.semaphoreId, in: semaphores, "semaphore")
            semaphores[m.semaphoreId] = try connection.createSemaphore()
        case .signalSemaphore(let m): try semaphore(m.semaphoreId).signal()
        case .resetSemaphore(let m): try semaphore(m.semaphoreId).reset()
        case .waitSemaphores(let m):
            guard !m.semaphoreIds.isEmpty else { throw .invalidArgs("wait_semaphores without semaphores") }
            let wait = PendingFence.SemaphoreWait(semaphores: try m.semaphoreIds.map { id throws(MagmaError) in try semaphore(id) },
                                                  waitAll: m.waitAll, reply: try target(m.reply, scope))
            scope.pending?.waits.append(wait)
        case .flush(let m):
            let reply = try target(m.reply, scope)
            do { try connection.flush(); try reply.writeStatus(nil) } catch { try reply.writeStatus(error) }
        case .getMemoryBudget(let m):
            let reply = try target(m.reply, scope)
            do {
                let budget = try connection.memoryBudget(heap: m.heap)
                try reply.write(VirtioContextProtocol.MemoryBudgetReply(status: .ok, budget: budget.budget, usage: budget.usage))
            } catch {
                try reply.write(VirtioContextProtocol.MemoryBudgetReply(status: error.status, budget: 0, usage: 0))
            }
        case .query(let m):
            let reply = try target(m.reply, scope)
            let answerArea = try target(m.answerArea, scope)
            let answer: VirtioContextProtocol.QueryReply
            do { answer = try VirtioContextProtocol.QueryReply(answering: scope.device.query(m.queryId), into: answerArea) } catch {
                answer = VirtioContextProtocol.QueryReply(failed: error.status)
            }
            try reply.write(answer)
        case .getSemaphoreState(let m):
            let reply = try target(m.reply, scope)
            try reply.write(VirtioContextProtocol.ValueReply(status: .ok, value: try semaphore(m.semaphoreId).isSignaled ? 1 : 0))
        case .watchFailure(let m):
            let watch = try target(m.reply, scope)
            scope.pending?.failureWatches.append(watch)
        case .createRing(let m): try createRing(m, scope)
        case .wakeRings:
            // The doorbell: the model drained this context's rings before the payload and
            // wakes the guest's ring consumer after it.
            break
        case .createTimeline, .signalTimeline, .getTimelineState, .waitTimeline, .cancelTimelineWait:
            try applyTimeline(message, &scope)
        case .exportObject, .importObject: try applyShare(message, &scope)
        case .readNotification(let m):
            let reply = try target(m.reply, scope)
            guard scope.notificationRead == nil else { throw .invalidArgs("two notification reads in one SUBMIT_3D") }
            scope.notificationRead = (reply, false)
        case .syncNotifications(let m):
            let reply = try target(m.reply, scope)
            guard scope.notificationRead == nil else { throw .invalidArgs("two notification reads in one SUBMIT_3D") }
            scope.notificationRead = (reply, true)
        }
    }

    private func apply(_ message: PrimaryProtocol.ClientMessage, _ scope: inout CommandScope) throws(MagmaError) {
        switch message {
        case .createContext(let m):
            guard m.contextId != 0, contexts[m.contextId] == nil else {
                throw .invalidArgs("Magma context id \(m.contextId) is 0 or in use in context \(id)")
            }
            contexts[m.contextId] = try connection.createContext(queueFamily: m.queueFamily, priority: m.priority)
        case .destroyContext(let m):
            try connection.release(try context(m.contextId))
            contexts[m.contextId] = nil
        case .releaseObject(let m):
            switch m.objectType {
            case .buffer:
                try connection.release(try buffer(m.objectId))
                buffers[m.objectId] = nil
            case .semaphore:
                try connection.release(try semaphore(m.objectId))
                semaphores[m.objectId] = nil
                watcher.poke()
                scope.shares.drop(context: id, objectId: m.objectId, type: .semaphore)
            case .timeline:
                try releaseTimeline(m.objectId)
                scope.shares.drop(context: id, objectId: m.objectId, type: .timeline)
            }
        case .executeCommand(let m):
            let resources = try m.resources.map { range throws(MagmaError) in
                BufferRange(bufferId: try buffer(range.bufferId).id, offset: range.offset, length: range.length)
            }
            let descriptor = CommandDescriptor(
                resources: resources, commandBuffers: m.commandBuffers, waitSemaphores: try hostIds(m.waitSemaphores),
                signalSemaphores: try hostIds(m.signalSemaphores) + (try workSemaphore(&scope)), flags: m.flags,
                waitTimelinePoints: try hostPoints(m.waitTimelinePoints), signalTimelinePoints: try hostPoints(m.signalTimelinePoints))
            try connection.execute(on: try context(m.contextId), descriptor)
        case .executeCommandAtAddress(let m):
            let command = GpuAddressCommand(
                gpuAddress: m.gpuAddress, length: m.length, waitSemaphores: try hostIds(m.waitSemaphores),
                signalSemaphores: try hostIds(m.signalSemaphores) + (try workSemaphore(&scope)), flags: m.flags,
                waitTimelinePoints: try hostPoints(m.waitTimelinePoints), signalTimelinePoints: try hostPoints(m.signalTimelinePoints))
            try connection.execute(on: try context(m.contextId), command)
        case .executeInlineCommands(let m):
            let commands = try m.commands.map { command throws(MagmaError) in
                InlineCommand(data: command.data, semaphores: try hostIds(command.semaphores))
            }
            try connection.executeInline(on: try context(m.contextId), commands)
        case .mapBuffer(let m):
            try connection.map(try buffer(m.range.bufferId), at: m.gpuAddress, offset: m.range.offset, length: m.range.length, flags: m.flags)
        case .unmapBuffer(let m):
            try connection.unmap(try buffer(m.bufferId), at: m.gpuAddress)
        case .bufferRangeOp(let m):
            let op: BufferRangeOp = m.op == .populateTables ? .populateTables : .depopulateTables
            try connection.perform(op, on: try buffer(m.range.bufferId), offset: m.range.offset, length: m.range.length)
        case .bind(let m):
            let operations = try m.operations.map { operation throws(MagmaError) in
                var operation = operation
                if operation.kind == .map { operation.bufferId = try buffer(operation.bufferId).id }
                return operation
            }
            try connection.bind(on: try context(m.contextId), operations, waitSemaphores: try hostIds(m.waitSemaphores),
                                signalSemaphores: try hostIds(m.signalSemaphores) + (try workSemaphore(&scope)),
                                waitTimelinePoints: try hostPoints(m.waitTimelinePoints),
                                signalTimelinePoints: try hostPoints(m.signalTimelinePoints))
        default:
            // VirtioContextCommand.split lets no other primary message through.
            throw .invalidArgs("\(message) does not travel in a SUBMIT_3D")
        }
    }

    /// The host ids of guest semaphore ids of this context.
    private func hostIds(_ ids: [UInt64]) throws(MagmaError) -> [ObjectId] {
        try ids.map { id throws(MagmaError) in try semaphore(id).id }
    }

    /// For a fenced submission, a new host semaphore the work signals on completion (the fence
    /// waits for it); none otherwise.
    private func workSemaphore(_ scope: inout CommandScope) throws(MagmaError) -> [ObjectId] {
        guard scope.pending != nil else { return [] }
        let semaphore = try connection.createSemaphore()
        scope.pending?.work.append(semaphore)
        return [semaphore.id]
    }

    /// A reply area: a resource attached to this context, with backing, holding the range.
    func target(_ area: GuestReplyArea, _ scope: CommandScope) throws(MagmaError) -> ReplyTarget {
        let resource = try attachedResource(area.resourceId, scope)
        guard let pages = resource.backing else { throw .invalidArgs("reply area: resource \(area.resourceId) has no backing") }
        let offset = Int(area.offset), length = Int(area.length)
        guard offset % 8 == 0, offset <= pages.size, length <= pages.size - offset else {
            throw .invalidArgs("reply area \(offset)+\(length) outside resource \(area.resourceId) of \(pages.size) bytes")
        }
        return ReplyTarget(pages: pages, offset: offset, length: length)
    }

    /// A resource of the guest that is attached to this context.
    func attachedResource(_ id: UInt32, _ scope: CommandScope) throws(MagmaError) -> VirtioResource {
        guard let resource = scope.resources[id], resource.contexts.contains(self.id) else {
            throw .invalidArgs("resource \(id) is not attached to context \(self.id)")
        }
        return resource
    }
}
