/** Lifeline's version, recorded in every manifest. A unit test keeps it equal to package.json. */
export const LIFELINE_VERSION = "0.1.0";
