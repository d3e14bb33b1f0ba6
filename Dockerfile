# jwtproxy image: `docker run -v $PWD/config.yaml:/config/config.yaml jwtproxy`
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src src
COPY cmd cmd
COPY bench bench
COPY bin bin
# npm ci runs the "prepare" script, which compiles TypeScript into dist/.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/bin bin
USER node
ENTRYPOINT ["node", "/app/dist/cmd/jwtproxy.js"]
CMD ["-config", "/config/config.yaml"]
