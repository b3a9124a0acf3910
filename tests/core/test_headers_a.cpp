// Two translation units include every public header: a missing `inline` fails to link.
#include "sse/sse.hpp"
