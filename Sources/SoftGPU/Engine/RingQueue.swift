/// A FIFO queue in a ring buffer: appending at either end and taking the first element are
/// O(1) (amortized over the buffer's doublings).
struct RingQueue<Element> {
    private var storage: [Element?] = []
    private var head = 0
    /// How many elements are queued.
    private(set) var count = 0

    /// Whether nothing is queued.
    var isEmpty: Bool { count == 0 }

    /// Adds `element` at the back.
    mutating func append(_ element: Element) {
        growIfFull()
        storage[(head + count) % storage.count] = element
        count += 1
    }

    /// Adds `element` at the front: it is the next one taken.
    mutating func prepend(_ element: Element) {
        growIfFull()
        head = (head + storage.count - 1) % storage.count
        storage[head] = element
        count += 1
    }

    /// Takes the front element, if any.
    mutating func removeFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    /// Takes every element, front first.
    mutating func removeAll() -> [Element] {
        var all: [Element] = []
        all.reserveCapacity(count)
        while let element = removeFirst() { all.append(element) }
        return all
    }

    private mutating func growIfFull() {
        guard count == storage.count else { return }
        var grown = [Element?](repeating: nil, count: max(4, storage.count * 2))
        for index in 0..<count { grown[index] = storage[(head + index) % storage.count] }
        storage = grown
        head = 0
    }
}
