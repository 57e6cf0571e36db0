// Original file: agent/proto/types.proto


export interface RuntimeTarget {
}

export interface RuntimeTarget__Output {
}
